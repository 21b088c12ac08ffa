// The client side of the CLI: deploy, runs, logs, cancel. Each returns the
// process exit code (SPEC.md): 0 ok / succeeded, 1 failed, 3 cancelled,
// 4 timed out, 5 interrupted, 2 usage, 6 server or connection error.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "http/client.h"

namespace jenky {

struct ClientOptions {
  std::string server;  // --server, else JENKY_SERVER, else http://127.0.0.1:8080
  std::string token;   // --token, else --token-file, else JENKY_TOKEN, else JENKY_TOKEN_FILE
  // A file holding the token ("-" = standard input), so that the token is not
  // on the command line, where every local user sees it in /proc/PID/cmdline.
  std::string token_file;
  std::string cacert;  // --cacert, else JENKY_CACERT: CA file for an https:// server
};

// Reads --token-file (or JENKY_TOKEN_FILE when neither --token nor
// JENKY_TOKEN is given) into O.token: its first line, trailing whitespace
// cut. Prints what is wrong and returns false.
bool ResolveTokenFile(ClientOptions& o);

// A client for O's server (--server, else JENKY_SERVER, else
// http://127.0.0.1:8080), token and CA (flags, else JENKY_TOKEN and
// JENKY_CACERT); nullopt, with the reason on stderr, when it cannot be made.
std::optional<Client> Connect(const ClientOptions& o);

// INPUTS: "NAME=VALUE" each (--input); a malformed one is a usage error (2).
int DeployCommand(const ClientOptions& o, const std::string& project, bool follow,
                  const std::string& ref, const std::string& commit,
                  const std::vector<std::string>& inputs = {});
int RunsCommand(const ClientOptions& o, const std::string& project, int limit, bool json);
// HOST (not ""): that fleet host's own log (docs/fleet.md).
int LogsCommand(const ClientOptions& o, long long run_id, bool follow, const std::string& host);
int CancelCommand(const ClientOptions& o, long long run_id);
// TO_RUN 0 = the release before the current one.
int RollbackCommand(const ClientOptions& o, const std::string& project, long long to_run,
                    bool follow);

}  // namespace jenky
