// Simulator.Reset over the real binary: after a run that changed everything a test can change
// (messages delivered, in flight and scheduled, an inbound message, opt-outs, a provisioned
// number, settings, an account made at run time, a carrier added and one faulted, outcome rules,
// API chaos), the state read through the public API equals the state the same process showed
// at its fresh start, and stays so once the messages that were in flight would have arrived.
// Open WatchEvents streams survive and say that it happened; the scenario's outcome rules work
// again; the removed account's credentials no longer do.

#include <gmock/gmock.h>
#include <google/protobuf/util/time_util.h>
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "integration/await_message.h"
#include "integration/gateway_fixture.h"
#include "integration/mmsgate_process.h"
#include "mmsgate/v1/accounts.grpc.pb.h"
#include "mmsgate/v1/messaging.grpc.pb.h"
#include "mmsgate/v1/simulator.grpc.pb.h"

namespace mmsgate::testing {
namespace {

namespace v1 = mmsgate::v1;
using google::protobuf::util::TimeUtil;

constexpr const char* kAccount = "AC5151515151515151515151515151abcd";
constexpr const char* kToken = "reset-token";
constexpr const char* kNumber = "+12025550100";
constexpr const char* kService = "MG5151515151515151515151515151abcd";

// A carrier that delivers at once (+1202555) and one that takes 20 simulated minutes
// (+1206555): 2 s at these tests' time_scale 600, so a message to it is in flight at a reset.
constexpr const char* kFastAndSlowCarriers = R"pb(
  carriers {
    id: "fast"
    country: "US"
    prefixes: "+1202555"
    supports_mms: true
    latency { median_ms: 10 }
  }
  carriers {
    id: "slow"
    country: "US"
    prefixes: "+1206555"
    supports_mms: true
    latency { median_ms: 1200000 }
  }
)pb";

// Everything a client can read, as text, with what differs between two fresh starts (the SIDs
// of scenario numbers, which are drawn at start) left out.
struct Snapshot {
  std::string text;
  bool operator==(const Snapshot&) const = default;
};

class ResetTest : public ::testing::Test {
 protected:
  void SetUp() override {
    data_dir_ = MmsgateProcess::MakeTempDir("reset");
    MmsgateProcess::Options& options = options_;
    options.data_dir = data_dir_;
    options.scenario_text =
        ScenarioAccountWithLongCode(kAccount, kToken, kNumber) + kFastAndSlowCarriers +
        R"pb(messaging_services {
               sid: "MG5151515151515151515151515151abcd"
               account_sid: "AC5151515151515151515151515151abcd"
               numbers: "+12025550100"
             }
             outcome_rules { to_prefix: "+1202555019" status: UNDELIVERED error_code: 30006 }
             simulation { time_scale: 600 seed: 5 })pb";
    gateway_ = MmsgateProcess::Start(options);
    messaging_ = v1::Messaging::NewStub(gateway_->Channel());
    simulator_ = v1::Simulator::NewStub(gateway_->Channel());
    accounts_ = v1::Accounts::NewStub(gateway_->Channel());
  }
  void TearDown() override {
    if (gateway_) gateway_->Stop();
    std::filesystem::remove_all(data_dir_);
  }

  std::unique_ptr<grpc::ClientContext> Context() const {
    return MmsgateProcess::ContextFor(kAccount, kToken);
  }
  template <class Call>
  void Ok(const char* what, Call&& call) {
    auto context = Context();
    const grpc::Status status = call(context.get());
    ASSERT_TRUE(status.ok()) << what << ": " << status.error_message();
  }

  Snapshot Take() {
    std::string text;
    auto add = [&text](const char* name, const google::protobuf::Message& message) {
      text += std::string(name) + " { " + message.ShortDebugString() + " }\n";
    };
    v1::Account account;
    Ok("GetAccount",
       [&](auto* c) { return accounts_->GetAccount(c, v1::GetAccountRequest(), &account); });
    add("account", account);
    v1::ListNumbersResponse numbers;
    Ok("ListNumbers",
       [&](auto* c) { return accounts_->ListNumbers(c, v1::ListNumbersRequest(), &numbers); });
    for (auto& number : *numbers.mutable_numbers()) number.clear_sid();
    add("numbers", numbers);
    v1::ListMessagingServicesResponse services;
    Ok("ListMessagingServices", [&](auto* c) {
      return accounts_->ListMessagingServices(c, v1::ListMessagingServicesRequest(), &services);
    });
    add("services", services);
    v1::ListOptOutsResponse opt_outs;
    Ok("ListOptOuts",
       [&](auto* c) { return accounts_->ListOptOuts(c, v1::ListOptOutsRequest(), &opt_outs); });
    add("opt_outs", opt_outs);
    v1::Usage usage;
    Ok("GetUsage", [&](auto* c) { return accounts_->GetUsage(c, v1::GetUsageRequest(), &usage); });
    add("usage", usage);
    v1::ListMessagesRequest list;
    list.set_page_size(1000);
    v1::ListMessagesResponse messages;
    Ok("ListMessages", [&](auto* c) { return messaging_->ListMessages(c, list, &messages); });
    add("messages", messages);
    v1::ListCarriersResponse carriers;
    Ok("ListCarriers",
       [&](auto* c) { return simulator_->ListCarriers(c, v1::ListCarriersRequest(), &carriers); });
    add("carriers", carriers);
    v1::ApiChaosList chaos;
    Ok("GetApiChaos",
       [&](auto* c) { return simulator_->GetApiChaos(c, v1::GetApiChaosRequest(), &chaos); });
    add("chaos", chaos);
    for (const char* phone : {"+12025550142", "+12065550142"}) {
      v1::GetHandsetInboxRequest request;
      request.set_number(phone);
      v1::HandsetInbox inbox;
      Ok("GetHandsetInbox",
         [&](auto* c) { return simulator_->GetHandsetInbox(c, request, &inbox); });
      add("inbox", inbox);
    }
    return {text};
  }

  v1::Message Send(const std::string& to, bool mms) {
    v1::SendMessageRequest request;
    request.set_from(kNumber);
    request.set_to(to);
    request.set_body("before the reset");
    if (mms) {
      auto* media = request.add_media();
      media->set_content_type("text/plain");
      media->set_data("media before the reset");
    }
    v1::Message sent;
    Ok("SendMessage", [&](auto* c) { return messaging_->SendMessage(c, request, &sent); });
    return sent;
  }

  // Changes every kind of state a test can change.
  std::string ChangeEverything() {
    // Messages: delivered, in flight at a slow carrier, scheduled, and one inbound.
    const v1::Message delivered = Send("+12025550142", /*mms=*/true);
    EXPECT_EQ(AwaitMessage(*messaging_, kAccount, kToken, delivered.sid()).status(), v1::DELIVERED);
    in_flight_ = Send("+12065550142", /*mms=*/true).sid();
    v1::SimulationClock clock;
    Ok("GetClock", [&](auto* c) { return simulator_->GetClock(c, v1::GetClockRequest(), &clock); });
    v1::SendMessageRequest scheduled;
    scheduled.set_messaging_service_sid(kService);
    scheduled.set_to("+12025550143");
    scheduled.set_body("later");
    scheduled.set_schedule_type("fixed");
    *scheduled.mutable_send_at() =
        TimeUtil::SecondsToTimestamp(TimeUtil::TimestampToSeconds(clock.now()) + 7200);
    v1::Message scheduled_sent;
    Ok("SendMessage scheduled",
       [&](auto* c) { return messaging_->SendMessage(c, scheduled, &scheduled_sent); });
    v1::HandsetSend inbound;
    inbound.set_from("+12025550160");
    inbound.set_to(kNumber);
    inbound.set_body("hello from a phone");
    v1::Message received;
    Ok("SendFromHandset",
       [&](auto* c) { return simulator_->SendFromHandset(c, inbound, &received); });

    // The account: an opt-out, a number, a setting, a service change.
    v1::SetOptOutRequest opt_out;
    opt_out.set_number(kNumber);
    opt_out.set_subscriber("+12025550150");
    opt_out.set_opted_out(true);
    v1::OptOut opted;
    Ok("SetOptOut", [&](auto* c) { return accounts_->SetOptOut(c, opt_out, &opted); });
    v1::ProvisionNumberRequest provision;
    provision.mutable_number()->set_number("+12025550177");
    v1::Number provisioned;
    Ok("ProvisionNumber",
       [&](auto* c) { return accounts_->ProvisionNumber(c, provision, &provisioned); });
    v1::UpdateAccountSettingsRequest settings;
    settings.mutable_settings()->set_disable_international_mms_conversion(true);
    v1::Account updated;
    Ok("UpdateAccountSettings",
       [&](auto* c) { return accounts_->UpdateAccountSettings(c, settings, &updated); });
    v1::ServiceNumberRequest add_number;
    add_number.set_messaging_service_sid(kService);
    add_number.set_number("+12025550177");
    v1::MessagingService service;
    Ok("AddServiceNumber",
       [&](auto* c) { return accounts_->AddServiceNumber(c, add_number, &service); });
    const TestAccount made = CreateTestAccount(gateway_->Channel(), "made at run time");

    // The simulation: a carrier added, a fault, outcome rules replaced, chaos.
    v1::UpsertCarrierRequest upsert;
    upsert.mutable_carrier()->set_id("extra");
    upsert.mutable_carrier()->set_country("US");
    upsert.mutable_carrier()->add_prefixes("+1303555");
    v1::CarrierState state;
    Ok("UpsertCarrier", [&](auto* c) { return simulator_->UpsertCarrier(c, upsert, &state); });
    v1::SetCarrierFaultRequest fault;
    fault.set_carrier_id("fast");
    fault.mutable_fault()->set_kind(v1::CarrierFault::EXTRA_LATENCY);
    fault.mutable_fault()->set_extra_latency_ms(5000);
    fault.mutable_fault()->set_duration_seconds(86400);
    Ok("SetCarrierFault", [&](auto* c) { return simulator_->SetCarrierFault(c, fault, &state); });
    v1::OutcomeRules none;
    Ok("SetOutcomeRules", [&](auto* c) { return simulator_->SetOutcomeRules(c, none, &none); });
    v1::ApiChaos chaos;
    chaos.set_method("DeleteMessagingService");
    chaos.set_probability(1);
    chaos.set_http_status(503);
    chaos.set_duration_seconds(86400);
    v1::ApiChaosList chaos_now;
    Ok("SetApiChaos", [&](auto* c) { return simulator_->SetApiChaos(c, chaos, &chaos_now); });
    return made.sid + ":" + made.auth_token;
  }

  std::string data_dir_;
  MmsgateProcess::Options options_;
  std::unique_ptr<MmsgateProcess> gateway_;
  std::unique_ptr<v1::Messaging::Stub> messaging_;
  std::unique_ptr<v1::Simulator::Stub> simulator_;
  std::unique_ptr<v1::Accounts::Stub> accounts_;
  std::string in_flight_;
};

TEST_F(ResetTest, TheStateAfterAResetEqualsAFreshStartThroughThePublicApi) {
  const Snapshot fresh = Take();
  ASSERT_FALSE(HasFatalFailure());

  // A watcher of the account, open across the reset.
  auto watch_context = Context();
  watch_context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(120));
  auto stream = messaging_->WatchEvents(watch_context.get(), v1::WatchEventsRequest());
  stream->WaitForInitialMetadata();

  const std::string made_credentials = ChangeEverything();
  ASSERT_FALSE(HasFatalFailure());
  const Snapshot changed = Take();
  ASSERT_NE(changed, fresh) << "the run changed nothing: the test would prove nothing";

  v1::ResetResponse reset;
  Ok("Reset", [&](auto* c) { return simulator_->Reset(c, v1::ResetRequest(), &reset); });
  EXPECT_EQ(reset.accounts_removed(), 1);
  EXPECT_GT(reset.duration_ms(), 0);
  std::printf("Simulator.Reset took %.1f ms\n", reset.duration_ms());

  const Snapshot after = Take();
  EXPECT_EQ(after.text, fresh.text);

  // The stream is still open and says what happened.
  v1::Event event;
  bool saw_reset = false;
  while (!saw_reset && stream->Read(&event)) saw_reset = event.kind() == v1::Event::RESET;
  ASSERT_TRUE(saw_reset) << "the stream ended without a RESET event";
  EXPECT_FALSE(event.has_message());

  // The scenario's outcome rules work again, and the same stream sees the new message.
  const v1::Message ruled = Send("+12025550191", /*mms=*/false);
  EXPECT_EQ(AwaitMessage(*messaging_, kAccount, kToken, ruled.sid()).status(), v1::UNDELIVERED);
  bool saw_new = false;
  while (!saw_new && stream->Read(&event)) {
    saw_new = event.message().sid() == ruled.sid() && event.message().status() == v1::UNDELIVERED;
  }
  EXPECT_TRUE(saw_new);
  watch_context->TryCancel();
  (void)stream->Finish();

  // The account made at run time is gone.
  const auto colon = made_credentials.find(':');
  auto made = MmsgateProcess::ContextFor(made_credentials.substr(0, colon),
                                         made_credentials.substr(colon + 1));
  v1::Account account;
  EXPECT_EQ(accounts_->GetAccount(made.get(), v1::GetAccountRequest(), &account).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);

  // What was in flight at the slow carrier (20 simulated minutes: 2 s here) does not come back:
  // 4 s later the only message is the new one, and no phone shows anything from before.
  std::this_thread::sleep_for(std::chrono::seconds(4));
  v1::ListMessagesRequest list;
  list.set_page_size(1000);
  v1::ListMessagesResponse messages;
  Ok("ListMessages", [&](auto* c) { return messaging_->ListMessages(c, list, &messages); });
  ASSERT_EQ(messages.messages_size(), 1);
  EXPECT_EQ(messages.messages(0).sid(), ruled.sid());
  v1::GetMessageRequest get;
  get.set_sid(in_flight_);
  v1::Message gone;
  auto get_context = Context();
  EXPECT_EQ(messaging_->GetMessage(get_context.get(), get, &gone).error_code(),
            grpc::StatusCode::NOT_FOUND);
  v1::GetHandsetInboxRequest inbox_request;
  inbox_request.set_number("+12065550142");
  v1::HandsetInbox inbox;
  Ok("GetHandsetInbox",
     [&](auto* c) { return simulator_->GetHandsetInbox(c, inbox_request, &inbox); });
  EXPECT_EQ(inbox.messages_size(), 0);
}

TEST_F(ResetTest, WhatAResetRemovedStaysRemovedAfterARestart) {
  ChangeEverything();
  ASSERT_FALSE(HasFatalFailure());
  v1::ResetResponse reset;
  Ok("Reset", [&](auto* c) { return simulator_->Reset(c, v1::ResetRequest(), &reset); });
  const Snapshot after = Take();
  ASSERT_EQ(gateway_->Stop(), 0);
  gateway_ = MmsgateProcess::Start(options_);
  messaging_ = v1::Messaging::NewStub(gateway_->Channel());
  simulator_ = v1::Simulator::NewStub(gateway_->Channel());
  accounts_ = v1::Accounts::NewStub(gateway_->Channel());
  EXPECT_EQ(Take().text, after.text);
}

TEST(Reset, NeedsTheAdminTokenWhenTheGatewayHasOne) {
  MmsgateProcess::Options options;
  options.extra_args = {"--admin-token", "reset-admin-secret"};
  auto gateway = MmsgateProcess::Start(options);
  auto simulator = v1::Simulator::NewStub(gateway->Channel());
  v1::ResetResponse reset;
  auto without = gateway->Context();
  EXPECT_EQ(simulator->Reset(without.get(), v1::ResetRequest(), &reset).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  auto with = gateway->Context();
  with->AddMetadata("x-admin-token", "reset-admin-secret");
  EXPECT_TRUE(simulator->Reset(with.get(), v1::ResetRequest(), &reset).ok());
  gateway->Stop();
}

namespace reset_account {

constexpr const char* kA = "AC6161616161616161616161616161abcd";
constexpr const char* kB = "AC6262626262626262626262626262abcd";
constexpr const char* kAdmin = "reset-account-admin";

// Credentials of `sid` (token "token-" + sid) with the admin token, which account changes and
// seeing every phone need on this gateway.
std::unique_ptr<grpc::ClientContext> As(const std::string& sid) {
  auto context = MmsgateProcess::ContextFor(sid, "token-" + sid);
  context->AddMetadata("x-admin-token", kAdmin);
  return context;
}

TEST(ResetAccount, ClearsOnlyTheCallersMessagesInboxEntriesOptOutsAndUsage) {
  MmsgateProcess::Options options;
  options.extra_args = {"--admin-token", kAdmin};
  options.scenario_text =
      ScenarioAccountWithLongCode(kA, std::string("token-") + kA, "+12025550100") +
      ScenarioAccountWithLongCode(kB, std::string("token-") + kB, "+12025550101") +
      kFastAndSlowCarriers +
      R"pb(simulation { time_scale: 600 disable_sender_rate_limits: true })pb";
  auto gateway = MmsgateProcess::Start(options);
  auto messaging = v1::Messaging::NewStub(gateway->Channel());
  auto accounts = v1::Accounts::NewStub(gateway->Channel());
  auto simulator = v1::Simulator::NewStub(gateway->Channel());
  auto send = [&](const std::string& sid, const std::string& from, const std::string& to) {
    v1::SendMessageRequest request;
    request.set_from(from);
    request.set_to(to);
    request.set_body("from " + sid);
    v1::Message sent;
    auto context = As(sid);
    EXPECT_TRUE(messaging->SendMessage(context.get(), request, &sent).ok());
    return sent.sid();
  };
  auto list = [&](const std::string& sid) {
    v1::ListMessagesRequest request;
    request.set_page_size(1000);
    v1::ListMessagesResponse page;
    auto context = As(sid);
    EXPECT_TRUE(messaging->ListMessages(context.get(), request, &page).ok());
    return page;
  };
  auto usage = [&](const std::string& sid) {
    v1::Usage ledger;
    auto context = As(sid);
    EXPECT_TRUE(accounts->GetUsage(context.get(), v1::GetUsageRequest(), &ledger).ok());
    return ledger;
  };
  auto inbox = [&](const std::string& phone) {
    v1::GetHandsetInboxRequest request;
    request.set_number(phone);
    v1::HandsetInbox got;
    auto context = As(kA);  // the admin sees every entry
    EXPECT_TRUE(simulator->GetHandsetInbox(context.get(), request, &got).ok());
    return got;
  };

  const std::string a_delivered = send(kA, "+12025550100", "+12025550142");
  const std::string b_delivered = send(kB, "+12025550101", "+12025550142");
  const std::string a_in_flight = send(kA, "+12025550100", "+12065550142");
  for (const auto& [sid, account] : {std::pair{a_delivered, kA}, std::pair{b_delivered, kB}}) {
    ASSERT_EQ(AwaitMessage(*messaging, account, std::string("token-") + account, sid).status(),
              v1::DELIVERED);
  }
  v1::SetOptOutRequest opt_out;
  opt_out.set_number("+12025550100");
  opt_out.set_subscriber("+12025550150");
  opt_out.set_opted_out(true);
  v1::OptOut opted;
  auto opt_context = As(kA);
  ASSERT_TRUE(accounts->SetOptOut(opt_context.get(), opt_out, &opted).ok());
  ASSERT_EQ(inbox("+12025550142").messages_size(), 2);
  const v1::Usage b_usage_before = usage(kB);
  v1::ListNumbersResponse a_numbers_before;
  auto numbers_context = As(kA);
  ASSERT_TRUE(
      accounts->ListNumbers(numbers_context.get(), v1::ListNumbersRequest(), &a_numbers_before)
          .ok());

  auto watch_context = As(kA);
  auto stream = messaging->WatchEvents(watch_context.get(), v1::WatchEventsRequest());
  stream->WaitForInitialMetadata();

  v1::ResetAccountResponse reset;
  auto reset_context = As(kA);
  const grpc::Status status =
      accounts->ResetAccount(reset_context.get(), v1::ResetAccountRequest(), &reset);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(reset.messages_removed(), 2);

  v1::Event event;
  ASSERT_TRUE(stream->Read(&event));
  EXPECT_EQ(event.kind(), v1::Event::RESET);
  watch_context->TryCancel();
  (void)stream->Finish();

  // A's data is gone; its numbers stay; B's data is untouched.
  EXPECT_EQ(list(kA).messages_size(), 0);
  EXPECT_EQ(usage(kA).entries_size(), 0);
  v1::ListOptOutsResponse opt_outs;
  auto opt_outs_context = As(kA);
  ASSERT_TRUE(
      accounts->ListOptOuts(opt_outs_context.get(), v1::ListOptOutsRequest(), &opt_outs).ok());
  EXPECT_EQ(opt_outs.opt_outs_size(), 0);
  v1::ListNumbersResponse a_numbers_after;
  auto numbers_after_context = As(kA);
  ASSERT_TRUE(
      accounts->ListNumbers(numbers_after_context.get(), v1::ListNumbersRequest(), &a_numbers_after)
          .ok());
  EXPECT_EQ(a_numbers_after.ShortDebugString(), a_numbers_before.ShortDebugString());
  const auto b_list = list(kB);
  ASSERT_EQ(b_list.messages_size(), 1);
  EXPECT_EQ(b_list.messages(0).sid(), b_delivered);
  EXPECT_EQ(usage(kB).ShortDebugString(), b_usage_before.ShortDebugString());
  const auto phone = inbox("+12025550142");
  ASSERT_EQ(phone.messages_size(), 1) << "A's entry goes, B's stays";
  EXPECT_EQ(phone.messages(0).message_sid(), b_delivered);

  // A's message that was in flight (20 simulated minutes: 2 s here) never arrives.
  std::this_thread::sleep_for(std::chrono::seconds(4));
  EXPECT_EQ(inbox("+12065550142").messages_size(), 0) << a_in_flight;
  EXPECT_EQ(list(kA).messages_size(), 0);

  // A goes on sending.
  const std::string after = send(kA, "+12025550100", "+12025550143");
  EXPECT_EQ(AwaitMessage(*messaging, kA, std::string("token-") + kA, after).status(),
            v1::DELIVERED);
  gateway->Stop();
}

}  // namespace reset_account

}  // namespace
}  // namespace mmsgate::testing
