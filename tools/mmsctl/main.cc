// mmsctl: talk to a running mmsgate from the shell. docs/mmsctl.md.
//
// A pure gRPC client: it links only the generated stubs, CLI11 and Abseil.

#include <CLI/CLI.hpp>
#include <iostream>

#include "mmsctl/client.h"
#include "mmsctl/commands.h"

namespace {

using namespace mmsctl;

int Run(int argc, char** argv) {
  CLI::App app{
      "mmsctl: talk to a running mmsgate (send, follow and list messages, read handset inboxes, "
      "inject carrier faults).\n\n"
      "Address and credentials come from flags or MMSGATE_ADDR, MMSGATE_ACCOUNT_SID, "
      "MMSGATE_AUTH_TOKEN, MMSGATE_ADMIN_TOKEN; the defaults match the built-in scenario, so "
      "after tools/run.sh:\n"
      "  mmsctl send --to +12025550142 --body hi --wait\n\n"
      "Exit codes: 0 ok; 1 refused by the gateway (its code printed); 2 usage; 3 cannot "
      "connect; 4 wrong credentials."};
  app.require_subcommand(1);
  // The common flags may come before or after the command: mmsctl list --json.
  app.fallthrough();
  app.set_version_flag("--version", "mmsctl 0.2.0");
  Target target;
  app.add_option("--addr", target.address, "gateway gRPC address HOST:PORT [MMSGATE_ADDR]");
  app.add_option("--account", target.account_sid, "account SID [MMSGATE_ACCOUNT_SID]");
  app.add_option("--token", target.auth_token, "auth token [MMSGATE_AUTH_TOKEN]");
  app.add_option("--admin-token", target.admin_token,
                 "x-admin-token for Simulator calls, when mmsgate runs with --admin-token "
                 "[MMSGATE_ADMIN_TOKEN]");
  app.add_option("--timeout", target.timeout_seconds, "seconds to wait for the gateway")
      ->capture_default_str();
  bool json = false;
  app.add_flag("--json", json, "machine-readable output (JSON, protobuf field names)");

  // send
  SendOptions send;
  auto* send_command = app.add_subcommand("send", "send an SMS or MMS");
  send_command->footer(
      "Examples:\n"
      "  mmsctl send --to +12025550142 --body hi --wait\n"
      "  mmsctl send --to +447400123456 --body 'look' --media @cat.png --wait   # SMS + link\n"
      "  mmsctl send --to +12025550142 --media https://example.com/cat.png\n"
      "  mmsctl send --service MG… --to +12025550142 --body later --send-at 20m");
  send_command->add_option("--from", send.from, "sender: a number of the account")
      ->capture_default_str();
  send_command->add_option("--to", send.to, "destination, E.164")->required();
  send_command->add_option("--service", send.service,
                           "through this Messaging Service (MG…): its pool picks the sender");
  send_command->add_option("--send-at", send.send_at,
                           "schedule it (with --service): an RFC 3339 time, or how far ahead on "
                           "the simulation clock (20m, 2h); 15 minutes to 35 days");
  send_command->add_option("--body", send.body, "text");
  send_command->add_option("--media", send.media,
                           "media URL, or @FILE to send the file's bytes (repeatable)");
  send_command->add_option("--status-callback", send.status_callback,
                           "URL told of every status change");
  send_command->add_option("--validity-period", send.validity_period,
                           "simulated seconds the message may wait (1..36000)");
  send_command->add_flag("--wait", send.wait,
                         "follow the message to DELIVERED, UNDELIVERED or FAILED, showing each "
                         "status and the time spent in the one before; exit 1 unless DELIVERED");
  send_command->add_option("--wait-timeout", send.wait_timeout, "seconds --wait waits at most")
      ->capture_default_str();

  // get
  std::string sid;
  auto* get_command = app.add_subcommand("get", "show one message");
  get_command->footer("Example:\n  mmsctl get SM0123456789abcdef0123456789abcdef");
  get_command->add_option("sid", sid, "message SID")->required();

  // cancel
  std::string cancel_sid;
  auto* cancel_command = app.add_subcommand("cancel", "cancel a scheduled message");
  cancel_command->footer("Example:\n  mmsctl cancel SM0123456789abcdef0123456789abcdef");
  cancel_command->add_option("sid", cancel_sid, "message SID")->required();

  // list
  ListOptions list;
  auto* list_command = app.add_subcommand("list", "list the account's messages, newest first");
  list_command->footer(
      "Examples:\n"
      "  mmsctl list --status delivered --since 10m\n"
      "  mmsctl list --to +12025550142 --json | jq '.[].sid'");
  list_command->add_option("--status", list.status,
                           "accepted, queued, sending, sent, delivered, "
                           "undelivered, failed, receiving, received");
  list_command->add_option("--from", list.from, "sender");
  list_command->add_option("--to", list.to, "destination");
  list_command->add_option("--direction", list.direction, "outbound or inbound");
  list_command->add_option("--since", list.since,
                           "created at or after: RFC 3339 time or a duration ago (10m)");
  list_command->add_option("--until", list.until, "created at or before (same forms)");
  list_command->add_option("--limit", list.limit, "messages at most")
      ->capture_default_str()
      ->check(CLI::Range(1, 100000));

  // watch
  WatchOptions watch;
  auto* watch_command = app.add_subcommand("watch", "print status changes as they happen");
  watch_command->footer(
      "Examples:\n"
      "  mmsctl watch                      # every message of the account\n"
      "  mmsctl watch --status undelivered --status failed\n"
      "  mmsctl watch --sid SM... --json");
  watch_command->add_option("--sid", watch.sids, "only this message (repeatable)");
  watch_command->add_option("--status", watch.statuses, "only these statuses (repeatable)");
  watch_command->add_option("--count", watch.count, "stop after this many events");

  // inbox
  std::string number;
  auto* inbox_command =
      app.add_subcommand("inbox", "what a simulated handset received, links included");
  inbox_command->footer("Example:\n  mmsctl inbox +447400123456");
  inbox_command->add_option("number", number, "the handset's number")->required();
  bool links_only = false;
  inbox_command->add_flag("--links", links_only, "print only the links received, one per line");

  // carriers
  double carriers_watch = 0;
  auto* carriers_command =
      app.add_subcommand("carriers", "the simulated carriers with their live counters and faults");
  carriers_command->footer(
      "Examples:\n  mmsctl carriers\n  mmsctl carriers --watch      # every second\n  mmsctl "
      "carriers --watch 0.2");
  carriers_command
      ->add_option("--watch", carriers_watch, "refresh every this many seconds (1 when not given)")
      ->expected(0, 1)
      ->default_str("1");

  // fault
  FaultOptions fault;
  auto* fault_command =
      app.add_subcommand("fault", "inject a fault into a carrier (durations are simulated)");
  fault_command->footer(
      "Examples:\n"
      "  mmsctl fault mmsnet --outage 60s\n"
      "  mmsctl fault mmsnet --no-mms 5m\n"
      "  mmsctl fault mmsnet --latency +800ms 2m\n"
      "  mmsctl fault mmsnet --loss 0.2 1m");
  fault_command->add_option("carrier", fault.carrier, "carrier id (mmsctl carriers)")->required();
  fault_command->add_option("--outage", fault.outage, "DURATION: the carrier takes nothing");
  fault_command->add_option("--no-mms", fault.no_mms, "DURATION: MMS to it go as SMS with a link");
  fault_command->add_option("--latency", fault.latency, "+EXTRA DURATION: added latency")
      ->expected(2);
  fault_command->add_option("--loss", fault.loss, "PROBABILITY DURATION: added failures")
      ->expected(2);

  // handset send
  HandsetSendOptions handset;
  auto* handset_command = app.add_subcommand("handset", "act as a subscriber's phone");
  handset_command->require_subcommand(1);
  auto* handset_send = handset_command->add_subcommand(
      "send", "a subscriber texts a provider number (an inbound message)");
  handset_send->footer(
      "Example:\n  mmsctl handset send --from +12025550142 --to +12025550100 --body 'hello'");
  handset_send->add_option("--from", handset.from, "the subscriber's number")->required();
  handset_send->add_option("--to", handset.to, "the provider number")->required();
  handset_send->add_option("--body", handset.body, "text");
  handset_send->add_option("--media", handset.media, "@FILE to attach (repeatable)");

  // numbers
  NumbersOptions numbers;
  auto* numbers_command = app.add_subcommand("numbers", "the account's numbers");
  numbers_command->footer(
      "Examples:\n"
      "  mmsctl numbers\n"
      "  mmsctl numbers provision +12025550177 --mms --sms-url http://127.0.0.1:9000/sms\n"
      "  mmsctl numbers provision 55577 --type short-code\n"
      "  mmsctl numbers enable-mms 55577\n"
      "  mmsctl numbers update +12025550177 --sms-url http://127.0.0.1:9000/other\n"
      "  mmsctl numbers release +12025550177");
  numbers_command
      ->add_option("action", numbers.action,
                   "provision, update, enable-mms or release (none: list)")
      ->check(CLI::IsMember({"provision", "update", "enable-mms", "release"}));
  numbers_command->add_option("number", numbers.number, "the number (E.164, or a short code)");
  numbers_command->add_option("--type", numbers.type, "provision: long-code, short-code, toll-free")
      ->capture_default_str();
  numbers_command->add_option("--country", numbers.country, "provision: ISO country")
      ->capture_default_str();
  numbers_command->add_flag("--mms", numbers.mms, "provision: with MMS");
  numbers_command->add_option("--sms-url", numbers.sms_url, "webhook for inbound messages");
  numbers_command->add_option("--status-callback", numbers.status_callback,
                              "status callback URL of its messages");

  // services
  ServicesOptions services;
  auto* services_command =
      app.add_subcommand("services", "the account's Messaging Services (sender pools)");
  services_command->footer(
      "Examples:\n"
      "  mmsctl services\n"
      "  mmsctl services create alerts --number +12025550100 --number +12065550100 --sticky\n"
      "  mmsctl services add MG… +12025550101\n"
      "  mmsctl services remove MG… +12025550101\n"
      "  mmsctl services delete MG…\n"
      "  mmsctl send --service MG… --to +12025550142 --body hi");
  services_command->add_option("action", services.action, "create, add, remove or delete")
      ->check(CLI::IsMember({"create", "add", "remove", "delete"}));
  services_command->add_option("args", services.args,
                               "create: NAME; add/remove: SID NUMBER; "
                               "delete: SID");
  services_command->add_option("--number", services.numbers, "create: a pool number (repeatable)");
  services_command->add_flag("--sticky", services.sticky,
                             "create: a recipient keeps the sender it got first");

  // optouts
  OptOutsOptions opt_outs;
  auto* opt_outs_command = app.add_subcommand(
      "optouts", "subscribers who texted STOP to the account's long codes (sends refused, 21610)");
  opt_outs_command->footer(
      "Examples:\n"
      "  mmsctl optouts\n"
      "  mmsctl optouts out +12025550100 +12025550142   # as if it texted STOP\n"
      "  mmsctl optouts in +12025550100 +12025550142    # as if it texted START");
  opt_outs_command->add_option("action", opt_outs.action, "out or in (none: list)")
      ->check(CLI::IsMember({"out", "in"}));
  opt_outs_command->add_option("number", opt_outs.number, "the account's long code");
  opt_outs_command->add_option("subscriber", opt_outs.subscriber, "the subscriber's number");

  // settings
  std::string conversion;
  std::string media_auth;
  auto* settings_command = app.add_subcommand("settings", "the account's settings");
  settings_command->footer(
      "Examples:\n  mmsctl settings\n  mmsctl settings --international-mms-conversion off\n"
      "  mmsctl settings --media-auth on");
  settings_command
      ->add_option("--international-mms-conversion", conversion,
                   "on: MMS outside the US and Canada go as SMS with a link; off: "
                   "they are refused (30011)")
      ->check(CLI::IsMember({"on", "off"}));
  settings_command
      ->add_option("--media-auth", media_auth,
                   "on: the content of this account's media is served only with its Basic "
                   "credentials (the provider's \"Enforce HTTP Auth on Media URLs\"); off: public")
      ->check(CLI::IsMember({"on", "off"}));

  // usage
  auto* usage_command = app.add_subcommand("usage",
                                           "what the account used: messages, segments, "
                                           "price");

  // completion
  std::string shell;
  auto* completion_command = app.add_subcommand("completion", "print a shell completion script");
  completion_command->footer("Example:\n  source <(mmsctl completion bash)");
  completion_command->add_option("shell", shell, "bash")
      ->required()
      ->check(CLI::IsMember({"bash"}));

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? kExitOk : kExitUsage;
  }
  if (*completion_command) {
    std::cout << BashCompletion();
    return kExitOk;
  }
  ApplyDefaults(target);
  Client client(target);
  if (*send_command) {
    send.json = json;
    return Send(client, send);
  }
  if (*get_command) return Get(client, sid, json);
  if (*cancel_command) return Cancel(client, cancel_sid, json);
  if (*list_command) {
    list.json = json;
    return List(client, list);
  }
  if (*watch_command) {
    watch.json = json;
    return Watch(client, watch);
  }
  if (*inbox_command) return Inbox(client, number, json, links_only);
  if (*carriers_command) return Carriers(client, json, carriers_watch);
  if (*fault_command) {
    fault.json = json;
    return Fault(client, fault);
  }
  if (*numbers_command) {
    numbers.json = json;
    return Numbers(client, numbers);
  }
  if (*services_command) {
    services.json = json;
    return Services(client, services);
  }
  if (*opt_outs_command) {
    opt_outs.json = json;
    return OptOuts(client, opt_outs);
  }
  if (*settings_command) return Settings(client, conversion, media_auth, json);
  if (*usage_command) return Usage(client, json);
  if (*handset_send) {
    handset.json = json;
    return HandsetSend(client, handset);
  }
  return kExitUsage;
}

}  // namespace

int main(int argc, char** argv) { return Run(argc, argv); }
