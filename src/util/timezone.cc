#include "util/timezone.h"

#include <algorithm>
#include <cstdlib>
#include <set>

#include <fmt/format.h>

#include "util/fs.h"

namespace jenky {
namespace {

int64_t BigEndian(std::string_view data, size_t at, size_t bytes) {
  uint64_t v = 0;
  for (size_t i = 0; i < bytes; ++i) v = (v << 8) | static_cast<unsigned char>(data[at + i]);
  if (bytes == 4) return static_cast<int32_t>(static_cast<uint32_t>(v));
  return static_cast<int64_t>(v);
}

bool ValidName(const std::string& name) {
  if (name.empty() || name[0] == '/' || name.find("..") != std::string::npos) return false;
  return name.find_first_not_of(
             "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789/_+-") ==
         std::string::npos;
}

}  // namespace

TimeZone TimeZone::Utc() {
  TimeZone z;
  z.name_ = "UTC";
  return z;
}

Result<TimeZone> TimeZone::Load(const std::string& name) {
  if (name == "UTC" || name == "Etc/UTC") return Utc();
  std::string path = "/etc/localtime";
  if (!name.empty()) {
    if (!ValidName(name)) {
      return Status::Error(
          fmt::format("'{}' is not a time zone name; write one like "
                      "\"Europe/Berlin\" or \"UTC\"",
                      name));
    }
    const char* dir = getenv("TZDIR");
    path = std::string(dir && *dir ? dir : "/usr/share/zoneinfo") + "/" + name;
  }
  auto text = ReadFile(path);
  if (!text.ok()) {
    return Status::Error(
        fmt::format("unknown time zone '{}': {} cannot be read; names are like "
                    "\"Europe/Berlin\" (see timedatectl list-timezones)",
                    name.empty() ? "local" : name, path));
  }
  std::string_view d = *text;
  auto bad = [&] { return Status::Error(fmt::format("{} is not a TZif time zone file", path)); };
  if (d.size() < 44 || d.substr(0, 4) != "TZif") return bad();
  auto counts = [&](size_t at, int64_t c[6]) {
    for (int i = 0; i < 6; ++i) c[i] = BigEndian(d, at + 20 + 4 * i, 4);
  };
  int64_t c[6];  // isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt
  counts(0, c);
  size_t at = 44;
  size_t time_bytes = 4;
  if (d[4] >= '2') {  // skip the 32-bit block; the 64-bit one follows its own header
    at += c[3] * 4 + c[3] + c[4] * 6 + c[5] + c[2] * 8 + c[1] + c[0];
    if (d.size() < at + 44 || d.substr(at, 4) != "TZif") return bad();
    counts(at, c);
    at += 44;
    time_bytes = 8;
  }
  size_t need = at + c[3] * time_bytes + c[3] + c[4] * 6;
  if (c[4] < 1 || d.size() < need) return bad();
  TimeZone z;
  z.name_ = name.empty() ? "local" : name;
  size_t types = at + c[3] * time_bytes + c[3];
  auto offset_of = [&](int64_t type) -> int32_t {
    return static_cast<int32_t>(BigEndian(d, types + 6 * type, 4));
  };
  z.initial_offset_ = offset_of(0);
  for (int64_t i = 0; i < c[3]; ++i) {
    int64_t type = static_cast<unsigned char>(d[at + c[3] * time_bytes + i]);
    if (type >= c[4]) return bad();
    z.transitions_.push_back(BigEndian(d, at + i * time_bytes, time_bytes));
    z.offsets_.push_back(offset_of(type));
  }
  return z;
}

int64_t TimeZone::OffsetAt(int64_t utc) const {
  auto it = std::upper_bound(transitions_.begin(), transitions_.end(), utc);
  if (it == transitions_.begin()) return initial_offset_;
  return offsets_[it - transitions_.begin() - 1];
}

int64_t TimeZone::LocalToUtc(int64_t local) const {
  std::set<int32_t> offsets(offsets_.begin(), offsets_.end());
  offsets.insert(initial_offset_);
  bool found = false;
  int64_t best = 0;
  for (int32_t o : offsets) {
    int64_t t = local - o;
    if (OffsetAt(t) == o && (!found || t < best)) {
      best = t;
      found = true;
    }
  }
  if (found) return best;
  // A wall time skipped by a jump forward: the jump is when it is passed.
  for (size_t i = 0; i < transitions_.size(); ++i) {
    int64_t before = i == 0 ? initial_offset_ : offsets_[i - 1];
    int64_t t = transitions_[i];
    if (t + before <= local && local < t + offsets_[i]) return t;
  }
  return local - OffsetAt(local);
}

}  // namespace jenky
