// The example scenario in docs/scenarios.md is a valid scenario with what its comments say.

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "gateway/config/scenario.h"

namespace mmsgate::gateway {
namespace {

TEST(ScenarioDocsTest, TheDocumentedExampleParsesAsDescribed) {
  std::ifstream file(std::string(MMSGATE_TEST_DATA_DIR) + "/../../docs/scenarios.md");
  ASSERT_TRUE(file) << "docs/scenarios.md";
  std::stringstream text;
  text << file.rdbuf();
  const std::string doc = text.str();
  const auto begin = doc.find("```textproto\n");
  ASSERT_NE(begin, std::string::npos);
  const auto end = doc.find("```", begin + 13);
  ASSERT_NE(end, std::string::npos);
  const auto scenario = ParseScenario(doc.substr(begin + 13, end - begin - 13), "docs");
  ASSERT_TRUE(scenario.ok()) << scenario.status();
  EXPECT_EQ(scenario->accounts_size(), 1);
  EXPECT_EQ(scenario->carriers_size(), 3);
  EXPECT_EQ(scenario->carriers(0).failures(0).error_code(), 30005);
  EXPECT_EQ(scenario->numbers_size(), 2);
  EXPECT_EQ(scenario->scheduled_faults_size(), 2);
  ASSERT_EQ(scenario->messaging_services_size(), 1);
  EXPECT_TRUE(scenario->messaging_services(0).sticky_sender());
  EXPECT_EQ(scenario->simulation().time_scale(), 60);
}

}  // namespace
}  // namespace mmsgate::gateway
