// docs/errors.md is complete: every code mmsgate can answer (all live in carriers/base/errors.h)
// has a row there, and the page documents no code that mmsgate never uses.

#include <gtest/gtest.h>

#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>

namespace mmsgate {
namespace {

std::string ReadSourceFile(const std::string& relative_path) {
  std::ifstream file(std::string(MMSGATE_TEST_DATA_DIR) + "/../../" + relative_path);
  EXPECT_TRUE(file) << relative_path;
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

std::set<std::string> AllMatches(const std::string& text, const std::regex& pattern) {
  std::set<std::string> found;
  for (std::sregex_iterator it(text.begin(), text.end(), pattern), end; it != end; ++it) {
    found.insert((*it)[1].str());
  }
  return found;
}

TEST(ErrorsDocTest, EveryCodeInErrorsHeaderHasARowAndEveryRowACode) {
  const std::string header = ReadSourceFile("carriers/base/errors.h");
  const std::string namespace_begin = "namespace error_codes {";
  const auto begin = header.find(namespace_begin);
  const auto end = header.find("}  // namespace error_codes");
  ASSERT_NE(begin, std::string::npos);
  ASSERT_NE(end, std::string::npos);
  const std::set<std::string> codes = AllMatches(
      header.substr(begin, end - begin), std::regex(R"(inline constexpr int k\w+ = (\d+);)"));
  ASSERT_GE(codes.size(), 30u) << "the pattern no longer matches errors.h";

  const std::set<std::string> documented =
      AllMatches(ReadSourceFile("docs/errors.md"), std::regex(R"re(<a id="(\d+)"></a>\1 \|)re"));
  for (const auto& code : codes) {
    EXPECT_TRUE(documented.contains(code)) << code << " has no row in docs/errors.md";
  }
  for (const auto& code : documented) {
    EXPECT_TRUE(codes.contains(code))
        << code << " is documented in docs/errors.md but not defined in errors.h";
  }
}

}  // namespace
}  // namespace mmsgate
