// POST /hooks/{project}: a forge's delivery (docs/webhooks.md). Verifies it
// (webhook/webhook.h), limits callers whose signatures fail, drops repeats of
// a delivery id, triggers the run and records every delivery with its
// outcome, also the refused ones.
#pragma once

#include <string>

#include "http/auth.h"
#include "http/server.h"
#include "server/engine.h"

namespace jenky {

net::awaitable<void> ServeHook(Exchange& ex, Engine& engine, Auth& auth,
                               const std::string& project);

}  // namespace jenky
