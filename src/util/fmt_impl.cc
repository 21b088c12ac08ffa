// fmt's implementation, compiled once for the whole program.
//
// With JENKY_STATIC_DEPS (the default: one self-contained binary) jenky does
// not link Debian's libfmt.so, which has no static counterpart. Header-only
// fmt (FMT_HEADER_ONLY) would get there by compiling format-inl.h -- the
// formatting engine and Dragonbox's tables -- into every translation unit
// that includes <fmt/format.h>, which is most of them: 1 s became 4 s for a
// small file, a fifth of a clean build. Instead every file sees fmt as a
// library (declarations only) and this file is that library: format-inl.h's
// functions, defined out of line, and the templates format.h declares but
// leaves to the library to instantiate, for char (jenky formats no wide
// strings). A build that links libfmt.so (JENKY_STATIC_DEPS=OFF, as the
// sanitizer presets do) does not compile this file.
#include <fmt/format-inl.h>

#include <locale>

FMT_BEGIN_NAMESPACE
namespace detail {

template auto dragonbox::to_decimal(float x) noexcept -> dragonbox::decimal_fp<float>;
template auto dragonbox::to_decimal(double x) noexcept -> dragonbox::decimal_fp<double>;
template locale_ref::locale_ref(const std::locale& loc);
template auto locale_ref::get<std::locale>() const -> std::locale;
template auto thousands_sep_impl(locale_ref) -> thousands_sep_result<char>;
template auto decimal_point_impl(locale_ref) -> char;

}  // namespace detail
FMT_END_NAMESPACE
