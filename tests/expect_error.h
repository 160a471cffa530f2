// A test helper: the call must throw tmac::Error, and the message must say what went wrong.
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "tmac/error.h"

namespace tmac::testing {

// Expects fn to throw tmac::Error whose message contains `part`.
template <typename Fn>
void ExpectError(Fn fn, const std::string& part) {
  try {
    fn();
    ADD_FAILURE() << "no error; expected one mentioning \"" << part << "\"";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
  }
}

}  // namespace tmac::testing
