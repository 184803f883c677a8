// The load harness against the real gateway: what a load-test author reads from it (the JSON
// report, the routing of a --mix, refusals with their codes, the plot) over gRPC and over REST.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "absl/strings/str_replace.h"
#include "integration/mmsgate_process.h"
#include "integration/test_scenario.h"
#include "mmsgate/v1/messaging.grpc.pb.h"

namespace mmsgate::testing {
namespace {

namespace v1 = mmsgate::v1;
using ::testing::HasSubstr;

class MmsloadTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    MmsgateProcess::Options options;
    // Zero latency and no sender limits, so a few hundred messages finish at once.
    options.scenario_text = absl::StrReplaceAll(
        TestScenario(0), {{"seed: 7", "seed: 7 disable_sender_rate_limits: true"}});
    gateway_ = MmsgateProcess::Start(options).release();
    dir_ = new std::string(MmsgateProcess::MakeTempDir("mmsload"));
  }
  static void TearDownTestSuite() {
    EXPECT_EQ(gateway_->Stop(), 0) << gateway_->Log();
    delete gateway_;
    gateway_ = nullptr;
    delete dir_;
  }

  struct Run {
    int exit_code = -1;
    std::string output;  // stdout and stderr
    nlohmann::json report;
  };

  // Runs mmsload against the gateway with `args` (and --json into a file), waits for it.
  static Run Mmsload(const std::string& name, const std::string& args) {
    const std::string json_path = *dir_ + "/" + name + ".json";
    const std::string output_path = *dir_ + "/" + name + ".out";
    const std::string command =
        std::string(MMSLOAD_BINARY) + " --grpc " + gateway_->grpc_address() + " --account " +
        kAccountSid + " --token " + kAuthToken + " --from " + kMmsLongCode +
        " --progress 0 --json " + json_path + " " + args + " > " + output_path + " 2>&1";
    Run run;
    const int status = std::system(command.c_str());
    run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    run.output = Read(output_path);
    const std::string json = Read(json_path);
    if (!json.empty()) run.report = nlohmann::json::parse(json);
    return run;
  }

  static std::string Read(const std::string& path) {
    std::ifstream file(path, std::ios::binary);
    std::stringstream text;
    text << file.rdbuf();
    return text.str();
  }

  // Checks a --mix run of 100 messages: 40 SMS, 20 MMS, 20 international, 20 to a carrier
  // without MMS, every one DELIVERED and routed as the rules say.
  static void ExpectMixDelivered(const Run& run) {
    ASSERT_EQ(run.exit_code, 0) << run.output;
    const auto& report = run.report;
    EXPECT_EQ(report["sent"], 100) << run.output;
    EXPECT_EQ(report["accepted"], 100);
    EXPECT_EQ(report["delivered"], 100);
    EXPECT_EQ(report["not_final"], 0);
    EXPECT_EQ(report["final_status"]["DELIVERED"]["0"], 100);
    EXPECT_EQ(report["mix"]["sms"]["SMS"], 40);
    EXPECT_EQ(report["mix"]["mms"]["MMS"], 20);
    // Outside the US and Canada, and to a carrier without MMS: an SMS with a link to the media.
    EXPECT_EQ(report["mix"]["intl"].size(), 1u);
    EXPECT_EQ(report["mix"]["intl"]["SMS_WITH_LINK"], 20) << report["mix"].dump();
    EXPECT_EQ(report["mix"]["nomms"]["SMS_WITH_LINK"], 20) << report["mix"].dump();
    // Admission and end-to-end latency, as percentiles and as a distribution.
    EXPECT_EQ(report["send_message_ms"]["n"], 100);
    EXPECT_LE(report["send_message_ms"]["p50"], report["send_message_ms"]["p99"]);
    EXPECT_EQ(report["send_to_delivered_ms"]["n"], 100);
    const auto& ladder = report["histograms"]["send_to_delivered"];
    ASSERT_EQ(ladder.size(), 11u);
    EXPECT_EQ(ladder.back()["percentile"], 100.0);
    EXPECT_EQ(ladder.back()["count"], 100);
    EXPECT_EQ(ladder.back()["value_ms"], report["send_to_delivered_ms"]["max"]);
    EXPECT_THAT(run.output, HasSubstr("send->DELIVERED latency distribution"));
  }

  static MmsgateProcess* gateway_;
  static std::string* dir_;
};

MmsgateProcess* MmsloadTest::gateway_ = nullptr;
std::string* MmsloadTest::dir_ = nullptr;

constexpr const char* kMix =
    " --count 100 --concurrency 8 --wait-final --timeout 60 --histogram --media-bytes 2000"
    " --mix sms=2,mms=1,intl=1,nomms=1 --to-prefix +1202555 --intl-prefix +44740012"
    " --nomms-prefix +1206555";

TEST_F(MmsloadTest, GrpcMixIsAcceptedDeliveredAndRoutedByTheRules) {
  const Run run = Mmsload("grpc_mix", kMix);
  ExpectMixDelivered(run);
  EXPECT_EQ(run.report["interface"], "grpc");
  EXPECT_THAT(run.output, HasSubstr("SendMessage latency distribution"));
}

TEST_F(MmsloadTest, RestMixIsAcceptedDeliveredAndRoutedByTheRules) {
  const Run run =
      Mmsload("rest_mix", std::string(kMix) + " --media-count 2 --body rest{i} --rest http://" +
                              gateway_->http_address());
  ExpectMixDelivered(run);
  EXPECT_EQ(run.report["media_count"], 2);
  // Every MMS-kind message of this run carried two media items.
  int with_media = 0;
  std::string page_token;
  do {
    auto context = gateway_->Context();
    v1::ListMessagesRequest request;
    request.set_page_size(1000);
    request.set_page_token(page_token);
    v1::ListMessagesResponse page;
    const auto status =
        v1::Messaging::NewStub(gateway_->Channel())->ListMessages(context.get(), request, &page);
    ASSERT_TRUE(status.ok()) << status.error_message();
    for (const auto& message : page.messages()) {
      if (!message.body().starts_with("rest") || message.num_media() == 0) continue;
      ++with_media;
      EXPECT_EQ(message.num_media(), 2) << message.sid();
    }
    page_token = page.next_page_token();
  } while (!page_token.empty());
  EXPECT_EQ(with_media, 60);  // mms, intl and nomms: 3 of every 5
  EXPECT_EQ(run.report["interface"], "rest");
  EXPECT_EQ(run.report["target"], "http://" + gateway_->http_address());
  EXPECT_THAT(run.output, HasSubstr("POST Messages latency distribution"));
}

TEST_F(MmsloadTest, RestRefusalsAreCountedWithTheirHttpStatusAndProviderCode) {
  // A number cannot text itself: every request is refused with 21266.
  const Run run =
      Mmsload("rest_refused", std::string("--count 5 --concurrency 2 --to ") + kMmsLongCode +
                                  " --rest http://" + gateway_->http_address());
  ASSERT_EQ(run.exit_code, 0) << run.output;
  EXPECT_EQ(run.report["sent"], 5);
  EXPECT_EQ(run.report["accepted"], 0);
  ASSERT_EQ(run.report["refused"].size(), 1u) << run.report.dump();
  EXPECT_EQ(run.report["refused"][0]["http_status"], "HTTP 400");
  EXPECT_EQ(run.report["refused"][0]["error_code"], 21266);
  EXPECT_EQ(run.report["refused"][0]["count"], 5);
  EXPECT_THAT(run.output, HasSubstr("21266: HTTP 400"));
}

TEST_F(MmsloadTest, RestToAClosedPortSaysThereWasNoAnswer) {
  // A port nothing listens on: the gateway's gRPC port is not HTTP/1.1, so use a fresh one.
  const Run run = Mmsload("rest_closed", "--count 2 --concurrency 1 --rest http://127.0.0.1:1");
  ASSERT_EQ(run.exit_code, 0) << run.output;
  EXPECT_EQ(run.report["accepted"], 0);
  ASSERT_EQ(run.report["refused"].size(), 1u) << run.report.dump();
  EXPECT_EQ(run.report["refused"][0]["http_status"], "no HTTP answer");
  EXPECT_THAT(run.output, HasSubstr("cannot connect to 127.0.0.1:1"));
}

TEST_F(MmsloadTest, PlotDrawsAPngFromThePerSecondFigures) {
  const std::string png = *dir_ + "/plot.png";
  const Run run =
      Mmsload("plot", "--count 50 --concurrency 4 --wait-final --timeout 60 --plot " + png);
  ASSERT_EQ(run.exit_code, 0) << run.output;
  const std::string image = Read(png);
  ASSERT_GT(image.size(), 1000u) << run.output;
  EXPECT_EQ(image.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
  // The numbers beside it: a header, then rows that add up to every message.
  std::istringstream data(Read(png + ".dat"));
  std::string line;
  std::getline(data, line);
  EXPECT_THAT(line, HasSubstr("accepted/s delivered/s"));
  double accepted = 0, delivered = 0;
  while (std::getline(data, line)) {
    std::istringstream row(line);
    double from = 0, to = 0, accepted_rate = 0, delivered_rate = 0;
    row >> from >> to >> accepted_rate >> delivered_rate;
    accepted += accepted_rate * (to - from);
    delivered += delivered_rate * (to - from);
  }
  EXPECT_NEAR(accepted, 50, 0.5);
  EXPECT_NEAR(delivered, 50, 0.5);
}

TEST_F(MmsloadTest, ABadRestUrlIsAUsageError) {
  const Run run = Mmsload("rest_bad_url", "--count 1 --rest https://example.com");
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_THAT(run.output, HasSubstr("--rest https://example.com: must be http://HOST:PORT"));
}

}  // namespace
}  // namespace mmsgate::testing
