// systemd's protocols, each a few datagrams, without libsystemd:
//  - sd_notify: READY=1, STATUS=..., WATCHDOG=1, STOPPING=1, RELOADING=1 to
//    $NOTIFY_SOCKET (a no-op outside systemd);
//  - socket activation: the listening sockets systemd passed (LISTEN_FDS);
//  - the native journal protocol, so log lines carry fields like JENKY_RUN_ID.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace jenky {

// Sends STATE ("READY=1\nSTATUS=...") to $NOTIFY_SOCKET. False outside systemd
// or on error.
bool SdNotify(std::string_view state);

// Half of $WATCHDOG_USEC when the watchdog is on for this process, else 0.
std::chrono::microseconds WatchdogInterval();

// File descriptors passed by socket activation (3, 4, ...), once: the
// variables are removed so children do not see them.
std::vector<int> TakeListenFds();

// Sends one entry to the journal with MESSAGE, PRIORITY and FIELDS; false if
// the journal socket is not there.
bool JournalSend(int priority, std::string_view message,
                 const std::vector<std::pair<std::string, std::string>>& fields);

}  // namespace jenky
