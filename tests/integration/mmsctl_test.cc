// mmsctl as a person or a script uses it, against the real gateway: what it prints and the exit
// codes scripts rely on (0 ok, 1 refused, 2 usage, 3 no connection, 4 credentials).

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "absl/strings/str_replace.h"
#include "integration/mmsgate_process.h"
#include "integration/test_scenario.h"

namespace mmsgate::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr const char* kAdminToken = "mmsctl-test-admin-token";

class MmsctlTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    MmsgateProcess::Options options;
    options.scenario_text = absl::StrReplaceAll(
        TestScenario(0), {{"seed: 7", "seed: 7 disable_sender_rate_limits: true"}});
    // Two accounts share the gateway, so faulting a carrier needs the admin token.
    options.extra_args = {"--admin-token", kAdminToken};
    gateway_ = MmsgateProcess::Start(options).release();
    dir_ = new std::string(MmsgateProcess::MakeTempDir("mmsctl"));
  }
  static void TearDownTestSuite() {
    EXPECT_EQ(gateway_->Stop(), 0) << gateway_->Log();
    delete gateway_;
    gateway_ = nullptr;
    delete dir_;
  }

  struct Run {
    int exit_code = -1;
    std::string out, err;
  };

  // Runs mmsctl with the test account in its environment (as a user would export it).
  static Run Mmsctl(const std::string& args, const std::string& environment = "") {
    static int runs = 0;
    const std::string out = *dir_ + "/" + std::to_string(++runs) + ".out";
    const std::string err = *dir_ + "/" + std::to_string(runs) + ".err";
    const std::string command =
        "MMSGATE_ADDR=" + gateway_->grpc_address() + " MMSGATE_ACCOUNT_SID=" + kAccountSid +
        " MMSGATE_AUTH_TOKEN=" + kAuthToken + " MMSGATE_ADMIN_TOKEN=" + kAdminToken + " " +
        environment + " " + MMSCTL_BINARY + " " + args + " >" + out + " 2>" + err;
    Run run;
    const int status = std::system(command.c_str());
    run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    run.out = Read(out);
    run.err = Read(err);
    return run;
  }

  static std::string Read(const std::string& path) {
    std::ifstream file(path, std::ios::binary);
    std::stringstream text;
    text << file.rdbuf();
    return text.str();
  }

  static MmsgateProcess* gateway_;
  static std::string* dir_;
};

MmsgateProcess* MmsctlTest::gateway_ = nullptr;
std::string* MmsctlTest::dir_ = nullptr;

TEST_F(MmsctlTest, SendWaitFollowsTheMessageToDeliveredAndExitsZero) {
  const Run run = Mmsctl(std::string("send --from ") + kMmsLongCode + " --to " + kUsMmsSubscriber +
                         " --body 'hello there' --wait");
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  EXPECT_THAT(run.out, HasSubstr("status         DELIVERED"));
  EXPECT_THAT(run.out, HasSubstr("body           hello there"));
  // The progress line shows each status with the time spent in the one before.
  EXPECT_THAT(run.err, HasSubstr("→ SENDING (+"));
  EXPECT_THAT(run.err, HasSubstr("→ DELIVERED (+"));
}

TEST_F(MmsctlTest, ARefusedSendExitsOneWithTheProviderCode) {
  const Run run = Mmsctl(std::string("send --from ") + kMmsLongCode + " --to nonsense --body x");
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_THAT(run.err, HasSubstr("error 21211 (INVALID_ARGUMENT)"));
  EXPECT_THAT(run.err, HasSubstr("docs/errors.md#21211"));
}

TEST_F(MmsctlTest, WrongCredentialsExitFour) {
  const Run run = Mmsctl("list", "MMSGATE_AUTH_TOKEN=wrong");
  EXPECT_EQ(run.exit_code, 4) << run.err;
  EXPECT_THAT(run.err, HasSubstr("error 20003 (UNAUTHENTICATED)"));
}

TEST_F(MmsctlTest, NoGatewayExitsThreeAndBadUsageTwo) {
  const Run nothing = Mmsctl("--addr 127.0.0.1:1 --timeout 1 list");
  EXPECT_EQ(nothing.exit_code, 3);
  EXPECT_THAT(nothing.err, HasSubstr("cannot connect to mmsgate at 127.0.0.1:1"));
  EXPECT_EQ(Mmsctl("send --body no-destination").exit_code, 2);
  EXPECT_EQ(Mmsctl("fault mmsnet --loss 2 1m").exit_code, 2);
  EXPECT_EQ(Mmsctl("frobnicate").exit_code, 2);
}

TEST_F(MmsctlTest, ListJsonIsJsonWithTheMessagesSent) {
  const Run sent = Mmsctl(std::string("--json send --from ") + kMmsLongCode + " --to " +
                          kUsMmsSubscriber + " --body listed");
  ASSERT_EQ(sent.exit_code, 0) << sent.err;
  const std::string sid = nlohmann::json::parse(sent.out)["sid"];
  const Run run = Mmsctl("list --json --limit 1000");
  ASSERT_EQ(run.exit_code, 0) << run.err;
  const auto list = nlohmann::json::parse(run.out);
  ASSERT_TRUE(list.is_array());
  bool found = false;
  for (const auto& message : list) found = found || message["sid"] == sid;
  EXPECT_TRUE(found) << run.out;
  // The table fits the width it is given.
  const Run table = Mmsctl("list", "COLUMNS=80");
  ASSERT_EQ(table.exit_code, 0);
  std::istringstream lines(table.out);
  for (std::string line; std::getline(lines, line);) {
    // Counted in code points: "…" is one.
    std::size_t width = 0;
    for (unsigned char c : line) width += (c & 0xC0) != 0x80;
    EXPECT_LE(width, 80u) << line;
  }
}

TEST_F(MmsctlTest, InboxShowsTheLinkOfAnMmsSentAbroad) {
  const std::string image = *dir_ + "/cat.png";
  std::ofstream(image, std::ios::binary)
      << std::string("\x89PNG\r\n\x1a\n", 8) << std::string(4000, 'x');
  const Run sent = Mmsctl(std::string("send --from ") + kMmsLongCode + " --to " + kGbSubscriber +
                          " --body 'look' --media @" + image + " --wait");
  ASSERT_EQ(sent.exit_code, 0) << sent.out << sent.err;
  EXPECT_THAT(sent.out, HasSubstr("delivered as   SMS_WITH_LINK"));
  const Run inbox = Mmsctl(std::string("inbox ") + kGbSubscriber);
  ASSERT_EQ(inbox.exit_code, 0) << inbox.err;
  EXPECT_THAT(inbox.out, HasSubstr("  look\n"));
  EXPECT_THAT(inbox.out, HasSubstr("  http://" + gateway_->http_address() + "/m/"));
}

TEST_F(MmsctlTest, AFaultShowsInTheCarrierTable) {
  const Run before = Mmsctl("carriers");
  ASSERT_EQ(before.exit_code, 0) << before.err;
  EXPECT_THAT(before.out, Not(HasSubstr("OUTAGE")));
  // Without the admin token the gateway refuses: two accounts share its carriers.
  const Run refused = Mmsctl("fault plainnet --outage 90s", "MMSGATE_ADMIN_TOKEN=");
  EXPECT_EQ(refused.exit_code, 4) << refused.err;
  EXPECT_THAT(refused.err, HasSubstr("x-admin-token"));
  const Run fault = Mmsctl("fault plainnet --outage 90s");
  ASSERT_EQ(fault.exit_code, 0) << fault.err;
  EXPECT_THAT(fault.out, HasSubstr("plainnet: OUTAGE for 1m30s"));
  const Run after = Mmsctl("carriers", "COLUMNS=200");
  ASSERT_EQ(after.exit_code, 0) << after.err;
  std::istringstream lines(after.out);
  bool shown = false;
  for (std::string line; std::getline(lines, line);) {
    if (line.starts_with("plainnet ")) shown = line.find("OUTAGE (") != std::string::npos;
  }
  EXPECT_TRUE(shown) << after.out;
  const Run json = Mmsctl("carriers --json");
  ASSERT_EQ(json.exit_code, 0);
  EXPECT_TRUE(nlohmann::json::accept(json.out)) << json.out;
}

TEST_F(MmsctlTest, CarriersWatchRefreshesTheTable) {
  // grep stops after the third table; mmsctl then ends on the closed pipe. `timeout` bounds a
  // watch that never refreshes.
  const Run watch = Mmsctl("carriers --watch 0.05 | grep -m 3 '^ID'", "timeout 60");
  EXPECT_EQ(watch.exit_code, 0);
  std::istringstream lines(watch.out);
  int tables = 0;
  for (std::string line; std::getline(lines, line);) {
    EXPECT_THAT(line, HasSubstr("SUBMITTED"));
    ++tables;
  }
  EXPECT_EQ(tables, 3) << watch.out;
}

TEST_F(MmsctlTest, NumbersAreProvisionedListedAndReleased) {
  const Run provisioned =
      Mmsctl("numbers provision +12025550177 --mms --sms-url http://127.0.0.1:9/sms");
  ASSERT_EQ(provisioned.exit_code, 0) << provisioned.err;
  EXPECT_THAT(provisioned.out, HasSubstr("+12025550177  LONG_CODE  US  sms yes  mms yes"));
  const Run listed = Mmsctl("numbers", "COLUMNS=200");
  EXPECT_THAT(listed.out, HasSubstr("http://127.0.0.1:9/sms"));
  const Run again = Mmsctl("numbers provision +12025550177");
  EXPECT_EQ(again.exit_code, 1) << again.err;  // already provisioned: refused with its code
  EXPECT_THAT(again.err, HasSubstr("docs/errors.md#"));
  ASSERT_EQ(Mmsctl("numbers release +12025550177").exit_code, 0);
  EXPECT_THAT(Mmsctl("numbers").out, Not(HasSubstr("+12025550177")));
  EXPECT_EQ(Mmsctl("numbers release").exit_code, 2);
}

TEST_F(MmsctlTest, SettingsDecideWhetherAnMmsAbroadIsConvertedOrRefused) {
  ASSERT_EQ(Mmsctl("settings --international-mms-conversion off").exit_code, 0);
  const std::string image = *dir_ + "/refused.png";
  std::ofstream(image, std::ios::binary) << std::string("\x89PNG\r\n\x1a\n", 8) << "x";
  const Run refused = Mmsctl(std::string("send --from ") + kMmsLongCode + " --to " + kGbSubscriber +
                             " --media @" + image);
  const Run restored = Mmsctl("settings --international-mms-conversion on");
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_THAT(refused.err, HasSubstr("error 30011"));
  ASSERT_EQ(restored.exit_code, 0);
  EXPECT_THAT(restored.out, HasSubstr("international MMS conversion on"));
  const Run json = Mmsctl("settings --json");
  ASSERT_EQ(json.exit_code, 0);
  EXPECT_THAT(json.out, Not(HasSubstr(kAuthToken)));  // a credential is never echoed
}

TEST_F(MmsctlTest, UsageAndHandsetSend) {
  const Run inbound = Mmsctl(std::string("handset send --from ") + kUsMmsSubscriber + " --to " +
                             kMmsLongCode + " --body 'from the phone'");
  ASSERT_EQ(inbound.exit_code, 0) << inbound.err;
  EXPECT_THAT(inbound.out, HasSubstr(" RECEIVED"));
  const Run usage = Mmsctl("usage");
  ASSERT_EQ(usage.exit_code, 0) << usage.err;
  EXPECT_THAT(usage.out, HasSubstr("CATEGORY"));
  EXPECT_THAT(usage.out, HasSubstr("sms-inbound"));
}

TEST_F(MmsctlTest, AStopShowsInOptOutsAndRefusesSendsUntilOptedBackIn) {
  ASSERT_EQ(Mmsctl(std::string("handset send --from ") + kUsMmsSubscriber + " --to " +
                   kMmsLongCode + " --body STOP")
                .exit_code,
            0);
  const Run listed = Mmsctl("optouts", "COLUMNS=200");
  ASSERT_EQ(listed.exit_code, 0) << listed.err;
  EXPECT_THAT(listed.out, HasSubstr(std::string(kMmsLongCode) + "  " + kUsMmsSubscriber));
  EXPECT_THAT(listed.out, HasSubstr("STOP"));
  const Run refused = Mmsctl(std::string("send --from ") + kMmsLongCode + " --to " +
                             kUsMmsSubscriber + " --body again");
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_THAT(refused.err, HasSubstr("21610"));
  const Run in = Mmsctl(std::string("optouts in ") + kMmsLongCode + " " + kUsMmsSubscriber);
  ASSERT_EQ(in.exit_code, 0) << in.err;
  EXPECT_THAT(in.out, HasSubstr("opted in to"));
  EXPECT_THAT(Mmsctl("optouts").out, Not(HasSubstr(kUsMmsSubscriber)));
  EXPECT_EQ(Mmsctl("optouts out " + std::string(kMmsLongCode)).exit_code, 2);
}

TEST_F(MmsctlTest, AServiceIsCreatedSentThroughListedAndDeleted) {
  const Run created =
      Mmsctl(std::string("services create alerts --number ") + kMmsLongCode + " --sticky --json");
  ASSERT_EQ(created.exit_code, 0) << created.err;
  const auto service = nlohmann::json::parse(created.out);
  const std::string sid = service["sid"];
  EXPECT_THAT(sid, ::testing::MatchesRegex("MG[0-9a-f]{32}"));
  const Run sent =
      Mmsctl("send --service " + sid + " --to " + kUsMmsSubscriber + " --body pooled --json");
  ASSERT_EQ(sent.exit_code, 0) << sent.err;
  const auto message = nlohmann::json::parse(sent.out);
  EXPECT_EQ(message["from"], kMmsLongCode) << "the pool's only number";
  EXPECT_EQ(message["messaging_service_sid"], sid);
  EXPECT_EQ(message["status"], "ACCEPTED");
  EXPECT_THAT(Mmsctl("services", "COLUMNS=200").out, HasSubstr(sid + "  alerts"));
  ASSERT_EQ(Mmsctl("services delete " + sid).exit_code, 0);
  const Run gone = Mmsctl("send --service " + sid + " --to " + kUsMmsSubscriber + " --body x");
  EXPECT_EQ(gone.exit_code, 1);
  EXPECT_THAT(gone.err, HasSubstr("21705"));
  EXPECT_EQ(Mmsctl("services add " + sid).exit_code, 2);
}

TEST_F(MmsctlTest, SendAtSchedulesThroughAServiceAndCancelCancels) {
  const Run created =
      Mmsctl(std::string("services create later --number ") + kMmsLongCode + " --json");
  ASSERT_EQ(created.exit_code, 0) << created.err;
  const std::string service = nlohmann::json::parse(created.out)["sid"];
  // A day ahead on the simulation clock, whatever its time_scale.
  const Run scheduled = Mmsctl("send --service " + service + " --to " + kUsMmsSubscriber +
                               " --body tomorrow --send-at 24h --json");
  ASSERT_EQ(scheduled.exit_code, 0) << scheduled.err;
  const auto message = nlohmann::json::parse(scheduled.out);
  EXPECT_EQ(message["status"], "SCHEDULED");
  const std::string sid = message["sid"];
  const Run canceled = Mmsctl("cancel " + sid);
  ASSERT_EQ(canceled.exit_code, 0) << canceled.err;
  EXPECT_EQ(canceled.out, sid + " CANCELED\n");
  const Run again = Mmsctl("cancel " + sid);
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_THAT(again.err, HasSubstr("30409"));
  // Too soon, and a time that is not one.
  EXPECT_THAT(
      Mmsctl("send --service " + service + " --to " + kUsMmsSubscriber + " --body x --send-at 1m")
          .err,
      HasSubstr("35115"));
  EXPECT_EQ(Mmsctl("send --service " + service + " --to " + kUsMmsSubscriber +
                   " --body x --send-at tomorrow")
                .exit_code,
            2);
}

TEST_F(MmsctlTest, CompletionScriptNamesTheCommands) {
  const Run run = Mmsctl("completion bash");
  ASSERT_EQ(run.exit_code, 0);
  EXPECT_THAT(run.out, HasSubstr("complete -F _mmsctl mmsctl"));
  EXPECT_THAT(run.out, HasSubstr("send get cancel list watch inbox carriers fault handset"));
}

}  // namespace
}  // namespace mmsgate::testing
