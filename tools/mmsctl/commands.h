#pragma once
// mmsctl's commands. Each returns the process's exit code (client.h).

#include <string>
#include <vector>

#include "mmsctl/client.h"

namespace mmsctl {

struct SendOptions {
  std::string from = "+12025550100";  // the built-in scenario's number
  std::string to;
  std::string body;
  std::vector<std::string> media;  // URL, or @FILE for inline bytes
  std::string status_callback;
  int validity_period = 0;
  std::string service;  // a Messaging Service SID: its pool picks the sender unless --from
  // Schedules the send (needs `service`): an RFC 3339 time, or a duration ("20m") after the
  // simulation clock's present.
  std::string send_at;
  bool wait = false;
  double wait_timeout = 120;
  bool json = false;
};
int Send(Client& client, const SendOptions& options);

int Get(Client& client, const std::string& sid, bool json);

// Cancels a scheduled message.
int Cancel(Client& client, const std::string& sid, bool json);

struct ListOptions {
  std::string status, from, to, direction;
  std::string since, until;  // RFC 3339, or a duration ago ("10m")
  int limit = 50;
  bool json = false;
};
int List(Client& client, const ListOptions& options);

struct WatchOptions {
  std::vector<std::string> sids;
  std::vector<std::string> statuses;
  bool json = false;
  int count = 0;  // stop after this many events (0: until interrupted)
};
int Watch(Client& client, const WatchOptions& options);

// `links_only`: just the media links the phone received, one per line (for scripts).
int Inbox(Client& client, const std::string& number, bool json, bool links_only = false);

int Carriers(Client& client, bool json, double watch_seconds);

struct FaultOptions {
  std::string carrier;
  std::string outage;                // DURATION
  std::string no_mms;                // DURATION
  std::vector<std::string> latency;  // +MS DURATION
  std::vector<std::string> loss;     // PROBABILITY DURATION
  bool json = false;
};
int Fault(Client& client, const FaultOptions& options);

struct HandsetSendOptions {
  std::string from, to, body;
  std::vector<std::string> media;
  bool json = false;
};
int HandsetSend(Client& client, const HandsetSendOptions& options);

struct NumbersOptions {
  std::string action;  // "" (list), provision, update, enable-mms, release
  std::string number;
  std::string type = "long-code";
  std::string country = "US";
  bool mms = false;
  std::string sms_url, status_callback;
  bool json = false;
};
int Numbers(Client& client, const NumbersOptions& options);

struct ServicesOptions {
  std::string action;                // "" (list), create, add, remove, delete
  std::vector<std::string> args;     // create: NAME; add/remove: SID NUMBER; delete: SID
  std::vector<std::string> numbers;  // create: the pool
  bool sticky = false;
  bool json = false;
};
int Services(Client& client, const ServicesOptions& options);

struct OptOutsOptions {
  std::string action;  // "" (list), out, in
  std::string number, subscriber;
  bool json = false;
};
int OptOuts(Client& client, const OptOutsOptions& options);

// `international_conversion`: "" shows the settings; "on"/"off" changes them.
int Settings(Client& client, const std::string& international_conversion,
             const std::string& media_auth, bool json);

int Usage(Client& client, bool json);

// A bash completion script for mmsctl.
std::string BashCompletion();

}  // namespace mmsctl
