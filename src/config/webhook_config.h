// A project's webhook ([projects.NAME.webhook], SPEC.md "Configuration"):
// its provider, its secret or GitLab signing token (inline or from the
// environment, never both, and one of them always: an unsigned webhook would
// let anyone deploy), the branches and events it takes.
//
// Part of loading a config (config.cc); one thread, like the Loader.
#pragma once

#include <string>
#include <string_view>

#include "config/config.h"
#include "config/loader.h"
#include "config/toml.h"

namespace jenky {

// Checks T (the webhook's table, WHERE "projects.NAME.webhook") and sets
// P.webhook; every problem is an error in L at the key to blame.
void LoadWebhook(Loader& L, const toml::table& t, const std::string& where, ProjectConfig& p);

// A GitLab signing token, "whsec_<base64>", as the key's bytes; "" if
// malformed.
std::string DecodeSigningToken(std::string_view token);

}  // namespace jenky
