// The web UI's files: the embedded copy (or, with `serve --web-dir`, a
// directory on disk), each precompressed file chosen by Accept-Encoding
// (util/content_coding.h); every page path that is no file gets index.html,
// the UI's own router takes it from there.
#pragma once

#include <string>

#include "http/server.h"

namespace jenky {

// WEB_DIR "" serves the embedded copy.
net::awaitable<void> ServeWebAsset(Exchange& ex, const std::string& web_dir);

}  // namespace jenky
