// The one place that names Boost.Asio and Boost.Beast, in a layer of its own
// below the engine (src/server/) and the HTTP layer (src/http/), which both
// run on Asio (docs/architecture.md, "Layers"). Include it only from those
// and from the composition root (src/app/); everything else stays free of
// them (compile time).
#pragma once

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace jenky {
namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = boost::asio::ip::tcp;
}  // namespace jenky
