#include "http/web_assets.h"

#include <deque>
#include <optional>

#include <fmt/format.h>

#include "http/api_error.h"
#include "util/content_coding.h"
#include "util/embedded.h"
#include "util/fs.h"

namespace jenky {
namespace {

const char* ContentTypeFor(std::string_view path) {
  struct Type {
    const char* ext;
    const char* type;
  };
  static constexpr Type kTypes[] = {
      {".html", "text/html; charset=utf-8"},
      {".js", "text/javascript; charset=utf-8"},
      {".css", "text/css; charset=utf-8"},
      {".svg", "image/svg+xml"},
      {".png", "image/png"},
      {".ico", "image/x-icon"},
      {".json", "application/json"},
      {".map", "application/json"},
      {".woff2", "font/woff2"},
      {".txt", "text/plain; charset=utf-8"},
      {".webmanifest", "application/manifest+json"},
  };
  for (const auto& t : kTypes) {
    std::string_view ext(t.ext);
    if (path.size() >= ext.size() && path.substr(path.size() - ext.size()) == ext) return t.type;
  }
  return "application/octet-stream";
}

}  // namespace

net::awaitable<void> ServeWebAsset(Exchange& ex, const std::string& web_dir) {
  // Files of the embedded UI by path; every other page path is the UI's own
  // route (/projects/x, /runs/42) and gets index.html.
  std::string path = ex.path().size() > 1 ? ex.path().substr(1) : "index.html";
  std::deque<std::string> from_disk;  // keeps each file read from --web-dir alive (and in place)
  auto find = [&](const std::string& p) -> std::optional<std::string_view> {
    if (p.find("..") != std::string::npos) return std::nullopt;
    if (web_dir.empty()) return FindWebAsset(p);
    auto text = ReadFile(web_dir + "/" + p);  // --web-dir: UI development
    if (!text.ok()) return std::nullopt;
    return std::string_view(from_disk.emplace_back(std::move(*text)));
  };
  auto data = find(path);
  if (!data) {
    if (path.rfind("assets/", 0) == 0) {
      co_return co_await SendApiError(ex, ApiError::kNotFound,
                                      fmt::format("no such file: /{}", path));
    }
    path = "index.html";
    data = find(path);
  }
  if (!data) {
    co_return co_await SendApiError(ex, ApiError::kNotFound, "this jenky has no web UI");
  }
  // Precompressed variants built beside the file (NAME.br, NAME.gz; see
  // scripts/compress-web.mjs), chosen by Accept-Encoding.
  std::optional<std::string_view> br = find(path + ".br");
  std::optional<std::string_view> gz = find(path + ".gz");
  ContentCoding coding =
      ChooseContentCoding(ex.Header("Accept-Encoding"), br.has_value(), gz.has_value());
  if (coding == ContentCoding::kNotAcceptable) {
    co_return co_await SendApiError(
        ex, ApiError::kNotAcceptable,
        fmt::format("/{} is available as br, gzip or identity; Accept-Encoding refuses all three",
                    path));
  }
  std::string_view body = coding == ContentCoding::kBrotli ? *br
                          : coding == ContentCoding::kGzip ? *gz
                                                           : *data;
  Response res{http::status::ok, ex.req().version()};
  res.set(http::field::content_type, ContentTypeFor(path));
  if (coding != ContentCoding::kIdentity) {
    res.set(http::field::content_encoding, ContentCodingToken(coding));
  }
  if (br || gz) res.set(http::field::vary, "Accept-Encoding");
  // Hashed names change with their content: cache them for good. Everything
  // else (index.html above all) is revalidated, so a new build shows at once.
  res.set(http::field::cache_control,
          IsHashedAssetName(path) ? "public, max-age=31536000, immutable" : "no-cache");
  res.set("X-Content-Type-Options", "nosniff");
  res.set("Referrer-Policy", "no-referrer");
  if (path == "index.html") {
    res.set("Content-Security-Policy",
            "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
            "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'");
    res.set("X-Frame-Options", "DENY");
  }
  if (ex.req().method() != http::verb::head) res.body().assign(body.data(), body.size());
  co_await ex.Send(std::move(res));
}

}  // namespace jenky
