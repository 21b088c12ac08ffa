#include "util/tls.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "util/fs.h"

namespace jenky {
namespace {

// The oldest queued OpenSSL error as text (and the queue cleared), or FALLBACK.
std::string OpenSslError(const char* fallback) {
  unsigned long e = ERR_get_error();
  unsigned long last = e;
  while (unsigned long more = ERR_get_error()) last = more;
  (void)last;
  if (e == 0) return fallback;
  const char* reason = ERR_reason_error_string(e);
  return reason ? reason : fallback;
}

// Keys with a passphrase are refused rather than prompted for on a terminal
// a service does not have.
int NoPassphrase(char*, int, int, void*) { return -1; }

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};

// The file's text, or why it cannot be read ("No such file or directory").
Result<std::string> ReadPem(const std::string& path) {
  auto text = ReadFile(path);
  if (text.ok()) return text;
  // ReadFile says "open PATH: reason"; the caller names the path itself.
  std::string m = text.status().message();  // status() is a copy
  size_t colon = m.rfind(": ");
  return Status::Error(colon == std::string::npos ? m : m.substr(colon + 2));
}

std::string Asn1Time(const ASN1_TIME* t) {
  struct tm tm;
  if (!t || ASN1_TIME_to_tm(t, &tm) != 1) return "?";
  char text[32];
  strftime(text, sizeof text, "%Y-%m-%d", &tm);
  return text;
}

std::string SubjectName(X509* cert) {
  char buf[256] = "";
  X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, buf, sizeof buf);
  return buf[0] ? std::string("CN=") + buf : "(no common name)";
}

SSL_CTX* NewCtx(bool server) {
  SSL_CTX* ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
  if (!ctx) return nullptr;
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_options(
      ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  SSL_CTX_set_default_passwd_cb(ctx, NoPassphrase);
  return ctx;
}

}  // namespace

std::string KeyPermissionWarning(const std::string& key_path) {
  struct stat st;
  if (stat(key_path.c_str(), &st) != 0 || !(st.st_mode & S_IROTH)) return "";
  return fmt::format(
      "server.tls_key: {} is readable by every user on this machine (mode {:04o}); "
      "run `chmod 600 {}` (or 640 with a group only jenky is in)",
      key_path, st.st_mode & 07777, key_path);
}

Result<std::shared_ptr<const TlsContext>> TlsContext::Server(const std::string& cert_path,
                                                             const std::string& key_path) {
  ERR_clear_error();
  auto cert_text = ReadPem(cert_path);
  if (!cert_text.ok()) {
    return Status::Error(fmt::format("server.tls_cert: cannot read {}: {}; point it at the PEM "
                                     "certificate (with its chain, e.g. certbot's fullchain.pem) "
                                     "and make it readable by jenky's user",
                                     cert_path, cert_text.status().message()),
                         StatusCode::kTlsCert);
  }
  auto key_text = ReadPem(key_path);
  if (!key_text.ok()) {
    return Status::Error(fmt::format("server.tls_key: cannot read {}: {}; point it at the PEM "
                                     "private key of the certificate (e.g. certbot's privkey.pem) "
                                     "and make it readable by jenky's user",
                                     key_path, key_text.status().message()),
                         StatusCode::kTlsKey);
  }
  auto not_pem_cert = [&](const std::string& why) {
    return Status::Error(fmt::format("server.tls_cert: {} is not a PEM certificate ({}); it must "
                                     "start with -----BEGIN CERTIFICATE-----",
                                     cert_path, why),
                         StatusCode::kTlsCert);
  };
  std::unique_ptr<BIO, BioFree> cert_bio(
      BIO_new_mem_buf(cert_text->data(), static_cast<int>(cert_text->size())));
  std::unique_ptr<X509, X509Free> leaf(
      PEM_read_bio_X509_AUX(cert_bio.get(), nullptr, NoPassphrase, nullptr));
  if (!leaf) return not_pem_cert(OpenSslError("no certificate found"));
  std::vector<std::unique_ptr<X509, X509Free>> chain;
  for (;;) {
    std::unique_ptr<X509, X509Free> next(
        PEM_read_bio_X509(cert_bio.get(), nullptr, NoPassphrase, nullptr));
    if (!next) break;
    chain.push_back(std::move(next));
  }
  // The end of the file reads as "no start line"; anything else is damage.
  unsigned long e = ERR_peek_last_error();
  if (e && !(ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE)) {
    return not_pem_cert("a later certificate of the chain: " + OpenSslError("unreadable"));
  }
  ERR_clear_error();

  std::unique_ptr<BIO, BioFree> key_bio(
      BIO_new_mem_buf(key_text->data(), static_cast<int>(key_text->size())));
  std::unique_ptr<EVP_PKEY, PkeyFree> key(
      PEM_read_bio_PrivateKey(key_bio.get(), nullptr, NoPassphrase, nullptr));
  if (!key) {
    std::string why = OpenSslError("no private key found");
    bool encrypted = key_text->find("ENCRYPTED") != std::string::npos;
    return Status::Error(
        encrypted
            ? fmt::format("server.tls_key: {} is encrypted with a passphrase, which a service "
                          "cannot type; decrypt it with `openssl pkey -in {} -out "
                          "NEW.pem` and point tls_key at that",
                          key_path, key_path)
            : fmt::format("server.tls_key: {} is not a PEM private key ({}); it must start "
                          "with -----BEGIN PRIVATE KEY----- (or RSA/EC PRIVATE KEY)",
                          key_path, why),
        StatusCode::kTlsKey);
  }

  SSL_CTX* raw = NewCtx(true);
  if (!raw) return Status::Error("TLS: " + OpenSslError("cannot create an SSL context"));
  std::shared_ptr<TlsContext> ctx(new TlsContext(raw, true));
  if (SSL_CTX_use_certificate(raw, leaf.get()) != 1) {
    return not_pem_cert("unusable: " + OpenSslError("rejected"));
  }
  for (auto& c : chain) {
    if (SSL_CTX_add1_chain_cert(raw, c.get()) != 1) {
      return not_pem_cert("its chain is unusable: " + OpenSslError("rejected"));
    }
  }
  if (SSL_CTX_use_PrivateKey(raw, key.get()) != 1 || SSL_CTX_check_private_key(raw) != 1) {
    ERR_clear_error();
    return Status::Error(fmt::format("server.tls_key: {} is not the private key of the certificate "
                                     "in {}; give the key the certificate was issued for (for "
                                     "certbot: privkey.pem next to fullchain.pem)",
                                     key_path, cert_path),
                         StatusCode::kTlsKey);
  }
  ctx->summary_ = fmt::format("{}, expires {}", SubjectName(leaf.get()),
                              Asn1Time(X509_get0_notAfter(leaf.get())));
  if (X509_cmp_current_time(X509_get0_notAfter(leaf.get())) < 0) {
    ctx->warnings_.push_back(
        fmt::format("server.tls_cert: the certificate in {} expired on {}; "
                    "clients will refuse it until it is renewed",
                    cert_path, Asn1Time(X509_get0_notAfter(leaf.get()))));
  }
  if (std::string w = KeyPermissionWarning(key_path); !w.empty()) ctx->warnings_.push_back(w);
  return std::shared_ptr<const TlsContext>(std::move(ctx));
}

Result<std::shared_ptr<const TlsContext>> TlsContext::Client(const std::string& ca_file) {
  ERR_clear_error();
  SSL_CTX* raw = NewCtx(false);
  if (!raw) return Status::Error("TLS: " + OpenSslError("cannot create an SSL context"));
  std::shared_ptr<TlsContext> ctx(new TlsContext(raw, false));
  SSL_CTX_set_verify(raw, SSL_VERIFY_PEER, nullptr);
  if (!ca_file.empty()) {
    if (auto text = ReadPem(ca_file); !text.ok()) {
      return Status::Error(
          fmt::format("cannot read the CA file {}: {}", ca_file, text.status().message()));
    }
    if (SSL_CTX_load_verify_locations(raw, ca_file.c_str(), nullptr) != 1) {
      return Status::Error(fmt::format("the CA file {} holds no PEM certificate ({})", ca_file,
                                       OpenSslError("unreadable")));
    }
  } else if (SSL_CTX_set_default_verify_paths(raw) != 1) {
    return Status::Error("cannot load the system's trusted CA certificates (" +
                         OpenSslError("unknown error") + "); pass --cacert FILE");
  }
  return std::shared_ptr<const TlsContext>(std::move(ctx));
}

TlsContext::~TlsContext() { SSL_CTX_free(ctx_); }

std::unique_ptr<TlsConn> TlsContext::NewConn(const std::string& host) const {
  SSL* ssl = SSL_new(ctx_);  // holds a reference to ctx_: a reload never pulls it away
  if (!ssl) return nullptr;
  BIO* in = BIO_new(BIO_s_mem());
  BIO* out = BIO_new(BIO_s_mem());
  // An empty input buffer means "wait for more", not end of file.
  BIO_set_mem_eof_return(in, -1);
  BIO_set_mem_eof_return(out, -1);
  SSL_set_bio(ssl, in, out);
  if (server_) {
    SSL_set_accept_state(ssl);
  } else {
    SSL_set_connect_state(ssl);
    X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
    if (X509_VERIFY_PARAM_set1_ip_asc(param, host.c_str()) != 1) {
      ERR_clear_error();
      X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
      SSL_set1_host(ssl, host.c_str());
      SSL_set_tlsext_host_name(ssl, host.c_str());  // SNI is for names, never addresses
    }
  }
  return std::unique_ptr<TlsConn>(new TlsConn(ssl));
}

TlsConn::TlsConn(ssl_st* ssl) : ssl_(ssl) {}

TlsConn::~TlsConn() { SSL_free(ssl_); }

void TlsConn::Feed(const char* data, size_t size) {
  if (size > 0) BIO_write(SSL_get_rbio(ssl_), data, static_cast<int>(size));
}

TlsState TlsConn::Fail(int ret) {
  switch (SSL_get_error(ssl_, ret)) {
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE:  // memory output never fills; treated alike
      return TlsState::kWantRead;
    case SSL_ERROR_ZERO_RETURN: return TlsState::kClosed;
    default: break;
  }
  long verify = SSL_get_verify_result(ssl_);
  if (!SSL_is_server(ssl_) && verify != X509_V_OK) {
    error_ = std::string("certificate verify failed: ") + X509_verify_cert_error_string(verify);
    ERR_clear_error();
  } else {
    error_ = OpenSslError("connection failed");
  }
  return TlsState::kError;
}

TlsState TlsConn::Handshake() {
  ERR_clear_error();
  int r = SSL_do_handshake(ssl_);
  return r == 1 ? TlsState::kOk : Fail(r);
}

bool TlsConn::handshake_done() const { return SSL_is_init_finished(ssl_); }

size_t TlsConn::Read(char* out, size_t size, TlsState* state) {
  ERR_clear_error();
  size_t n = 0;
  int r = SSL_read_ex(ssl_, out, size, &n);
  *state = r == 1 ? TlsState::kOk : Fail(0);
  return r == 1 ? n : 0;
}

TlsState TlsConn::Peek() {
  ERR_clear_error();
  char byte;
  size_t n = 0;
  return SSL_peek_ex(ssl_, &byte, 1, &n) == 1 ? TlsState::kOk : Fail(0);
}

void TlsConn::Write(const char* data, size_t size) {
  ERR_clear_error();
  size_t n = 0;
  if (size > 0 && SSL_write_ex(ssl_, data, size, &n) != 1) Fail(0);
}

void TlsConn::Shutdown() {
  ERR_clear_error();
  if (SSL_is_init_finished(ssl_)) SSL_shutdown(ssl_);
  ERR_clear_error();
}

bool TlsConn::has_output() const { return BIO_ctrl_pending(SSL_get_wbio(ssl_)) > 0; }

void TlsConn::TakeOutput(std::string& out) {
  BIO* wbio = SSL_get_wbio(ssl_);
  size_t pending = BIO_ctrl_pending(wbio);
  if (pending == 0) return;
  size_t at = out.size();
  out.resize(at + pending);
  int n = BIO_read(wbio, out.data() + at, static_cast<int>(pending));
  out.resize(at + static_cast<size_t>(n > 0 ? n : 0));
  BUF_MEM* mem = nullptr;
  BIO_get_mem_ptr(wbio, &mem);
  if (mem && mem->max > 32 * 1024) {
    // A big frame grew the buffer: give it back rather than keep it for
    // every idle viewer.
    BIO* fresh = BIO_new(BIO_s_mem());
    BIO_set_mem_eof_return(fresh, -1);
    SSL_set0_wbio(ssl_, fresh);
  }
}

}  // namespace jenky
