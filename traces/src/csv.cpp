#include "csv.h"

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>

#include "sllm/core/error.h"

namespace sllm::traces::detail {

LineReader::LineReader(std::string path) : LineReader(TraceInput::open(path)) {}

LineReader::LineReader(std::shared_ptr<const TraceInput> input) : input_(std::move(input)) {
  buffer_.resize(kMaxLineBytes);
}

bool LineReader::next(std::string_view& line) {
  for (;;) {
    const char* base = buffer_.data();
    if (const void* nl = std::memchr(base + begin_, '\n', end_ - begin_)) {
      const std::size_t stop = static_cast<std::size_t>(static_cast<const char*>(nl) - base);
      std::size_t len = stop - begin_;
      if (len > 0 && base[begin_ + len - 1] == '\r') --len;
      line = std::string_view(base + begin_, len);
      line_offset_ = buffer_offset_ + begin_;
      ++line_number_;
      begin_ = stop + 1;
      return true;
    }
    if (eof_) {
      if (begin_ == end_) return false;
      std::size_t len = end_ - begin_;  // last line without a terminator
      if (base[begin_ + len - 1] == '\r') --len;
      line = std::string_view(base + begin_, len);
      line_offset_ = buffer_offset_ + begin_;
      ++line_number_;
      begin_ = end_;
      return true;
    }
    // Keep the partial line, refill behind it.
    if (begin_ > 0) {
      std::memmove(buffer_.data(), base + begin_, end_ - begin_);
      buffer_offset_ += begin_;
      end_ -= begin_;
      begin_ = 0;
    }
    if (end_ == buffer_.size()) {
      throw InputError(path() + ":" + std::to_string(line_number_ + 1),
                       "line longer than " + std::to_string(kMaxLineBytes) + " bytes (is this a text CSV?)");
    }
    const std::size_t got = input_->read_at(buffer_.data() + end_, buffer_.size() - end_, read_offset_);
    if (got == 0) eof_ = true;
    read_offset_ += got;
    end_ += got;
  }
}

void CsvFields::split(std::string_view line) {
  fields.clear();
  columns.clear();
  std::size_t start = 0;
  for (;;) {
    const std::size_t comma = line.find(',', start);
    const std::size_t stop = comma == std::string_view::npos ? line.size() : comma;
    std::string_view f = line.substr(start, stop - start);
    if (f.size() >= 2 && f.front() == '"' && f.back() == '"') f = f.substr(1, f.size() - 2);
    fields.push_back(f);
    columns.push_back(static_cast<std::uint32_t>(start + 1));
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  end_column = static_cast<std::uint32_t>(line.size() + 1);
}

bool parse_uint64(std::string_view text, std::uint64_t& out) {
  if (text.empty()) return false;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && end == text.data() + text.size();
}

bool parse_uint32(std::string_view text, std::uint32_t& out) {
  std::uint64_t v = 0;
  if (!parse_uint64(text, v) || v > std::numeric_limits<std::uint32_t>::max()) return false;
  out = static_cast<std::uint32_t>(v);
  return true;
}

namespace {

bool all_digits(std::string_view s) {
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

// Nanoseconds of a fraction's digits (after the '.'), rounded half up at the tenth digit. `carry` is
// set when rounding reaches a whole second.
Nanos fraction_nanos(std::string_view digits, bool& carry) {
  Nanos ns = 0;
  for (std::size_t i = 0; i < 9; ++i) ns = ns * 10 + (i < digits.size() ? digits[i] - '0' : 0);
  if (digits.size() > 9 && digits[9] >= '5') ++ns;
  carry = ns == kNanosPerSecond;
  return carry ? 0 : ns;
}

// Days from 1970-01-01 to a proleptic Gregorian date (H. Hinnant's days_from_civil).
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

bool fixed_digits(std::string_view s, std::size_t pos, std::size_t n, unsigned& out) {
  if (pos + n > s.size() || !all_digits(s.substr(pos, n))) return false;
  out = 0;
  for (std::size_t i = 0; i < n; ++i) out = out * 10 + static_cast<unsigned>(s[pos + i] - '0');
  return true;
}

}  // namespace

bool parse_seconds(std::string_view text, Nanos& out) {
  if (text.empty()) return false;
  if (text.find_first_of("eE") != std::string_view::npos) {
    // Python writes small floats in exponent form ("5.96e-05"); double precision is ample there.
    double v = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc() || end != text.data() + text.size() || !std::isfinite(v) || v < 0 || v > 9.0e9) {
      return false;
    }
    out = from_seconds(v);
    return true;
  }
  const std::size_t dot = text.find('.');
  const std::string_view whole = text.substr(0, dot);
  const std::string_view frac = dot == std::string_view::npos ? std::string_view() : text.substr(dot + 1);
  if (whole.empty() && frac.empty()) return false;
  if (!all_digits(whole) || !all_digits(frac) || whole.size() > 10) return false;
  std::uint64_t secs = 0;
  if (!whole.empty() && !parse_uint64(whole, secs)) return false;
  if (secs > 9'000'000'000ULL) return false;
  bool carry = false;
  const Nanos ns = fraction_nanos(frac, carry);
  out = static_cast<Nanos>(secs + (carry ? 1 : 0)) * kNanosPerSecond + ns;
  return true;
}

bool parse_datetime(std::string_view s, Nanos& out) {
  unsigned year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  if (s.size() < 19 || !fixed_digits(s, 0, 4, year) || s[4] != '-' || !fixed_digits(s, 5, 2, month) ||
      s[7] != '-' || !fixed_digits(s, 8, 2, day) || (s[10] != ' ' && s[10] != 'T') ||
      !fixed_digits(s, 11, 2, hour) || s[13] != ':' || !fixed_digits(s, 14, 2, minute) || s[16] != ':' ||
      !fixed_digits(s, 17, 2, second)) {
    return false;
  }
  static constexpr unsigned kDaysInMonth[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  if (month < 1 || month > 12 || day < 1 || day > kDaysInMonth[month - 1] || (month == 2 && day == 29 && !leap) ||
      hour > 23 || minute > 59 || second > 59 || year < 1970 || year > 2200) {
    return false;
  }
  std::size_t pos = 19;
  Nanos frac_ns = 0;
  bool carry = false;
  if (pos < s.size() && s[pos] == '.') {
    std::size_t stop = pos + 1;
    while (stop < s.size() && s[stop] >= '0' && s[stop] <= '9') ++stop;
    if (stop == pos + 1) return false;
    frac_ns = fraction_nanos(s.substr(pos + 1, stop - pos - 1), carry);
    pos = stop;
  }
  std::int64_t offset_minutes = 0;  // local time = UTC + offset
  if (pos < s.size()) {
    const std::string_view zone = s.substr(pos);
    unsigned oh = 0, om = 0;
    if (zone == "Z") {
    } else if (zone.size() == 6 && (zone[0] == '+' || zone[0] == '-') && fixed_digits(zone, 1, 2, oh) &&
               zone[3] == ':' && fixed_digits(zone, 4, 2, om) && oh <= 23 && om <= 59) {
      offset_minutes = (zone[0] == '-' ? -1 : 1) * static_cast<std::int64_t>(oh * 60 + om);
    } else {
      return false;
    }
  }
  const std::int64_t days = days_from_civil(year, month, day);
  const std::int64_t secs = days * 86400 + hour * 3600 + minute * 60 + second + (carry ? 1 : 0) -
                            offset_minutes * 60;
  out = secs * kNanosPerSecond + frac_ns;
  return true;
}

void append_seconds(std::string& out, Nanos t) {
  char buf[32];
  auto r = std::to_chars(buf, buf + sizeof buf, t / kNanosPerSecond);
  out.append(buf, r.ptr);
  out.push_back('.');
  Nanos frac = t % kNanosPerSecond;
  char digits[9];
  for (int i = 8; i >= 0; --i) {
    digits[i] = static_cast<char>('0' + frac % 10);
    frac /= 10;
  }
  out.append(digits, 9);
}

}  // namespace sllm::traces::detail
