// The one place that names Boost.Asio and Boost.Beast. Include this only from
// src/http/ and src/server/; everything else stays free of them (compile time).
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
