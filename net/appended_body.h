// AppendedStringBody: a Beast body that reads a message's body into a
// std::string by appending what arrives.
//
// Beast's string_body grows its string with resize() and then copies into
// it, so every byte of a body was zeroed just before it was overwritten (in
// a perf window of bench/fleet_bench.sh, strings zeroed by resize() were
// 0.7 % of the collector's CPU, a third of it the chunked bodies of
// scrapes). Appending copies once. A string reserved before the
// body is read (a scrape loop's last body size), or for an announced
// Content-Length, is filled without being regrown. Reading only: a message
// with this body is parsed, never serialized.
#pragma once

#include <cstdint>
#include <string>

#include "net/asio_pch.h"

namespace stoker {

struct AppendedStringBody {
  using value_type = std::string;
  static std::uint64_t size(const value_type& body) { return body.size(); }
  class reader {
   public:
    template <bool isRequest, class Fields>
    reader(boost::beast::http::header<isRequest, Fields>&, value_type& body) : body_(body) {}
    void init(const boost::optional<std::uint64_t>& length, boost::system::error_code& ec) {
      ec = {};
      if (length && *length > body_.max_size() - body_.size()) {
        ec = boost::beast::http::error::buffer_overflow;
        return;
      }
      if (length) body_.reserve(body_.size() + static_cast<size_t>(*length));
    }
    template <class ConstBufferSequence>
    std::size_t put(const ConstBufferSequence& buffers, boost::system::error_code& ec) {
      ec = {};
      size_t n = 0;
      for (auto b : boost::beast::buffers_range_ref(buffers)) {
        body_.append(static_cast<const char*>(b.data()), b.size());
        n += b.size();
      }
      return n;
    }
    void finish(boost::system::error_code& ec) { ec = {}; }

   private:
    value_type& body_;
  };
};

}  // namespace stoker
