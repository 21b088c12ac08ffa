// Content negotiation for the web UI's static files: which of the precompressed
// variants built beside each asset (NAME.br, NAME.gz; see
// scripts/compress-web.mjs) a request's Accept-Encoding allows, and which asset
// names are content-hashed (so they may be cached for good).
//
// Pure functions of their arguments; any thread may call them.
#pragma once

#include <string_view>

namespace jenky {

enum class ContentCoding {
  kIdentity,       // send the file as it is
  kGzip,           // send NAME.gz with Content-Encoding: gzip
  kBrotli,         // send NAME.br with Content-Encoding: br
  kNotAcceptable,  // identity refused ("identity;q=0", "*;q=0") and no variant allowed: 406
};

// Chooses the coding for a response from the request's Accept-Encoding (RFC
// 9110 §12.5.3): the highest q-value among the variants that exist wins; on a
// tie br beats gzip and both beat identity. Without the header (or with an
// empty one) the answer is identity. Codings and parameters are matched
// case-insensitively; "x-gzip" counts as gzip; an element whose q-value is not
// a valid qvalue is ignored.
ContentCoding ChooseContentCoding(std::string_view accept_encoding, bool have_brotli,
                                  bool have_gzip);

// The Content-Encoding token of a coding ("br", "gzip"; empty for identity).
std::string_view ContentCodingToken(ContentCoding coding);

// The suffix of the file holding that variant (".br", ".gz"; empty for identity).
std::string_view ContentCodingSuffix(ContentCoding coding);

// True for a file Vite named after its content: directly under assets/, with
// "-" and an 8-character [A-Za-z0-9_-] hash before its extension
// ("assets/index-B3x_9aQz.js").
// Only those may be cached as immutable; index.html must be revalidated.
bool IsHashedAssetName(std::string_view path);

}  // namespace jenky
