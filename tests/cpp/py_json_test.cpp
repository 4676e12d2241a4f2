#include "cache/py_json.h"

#include <gtest/gtest.h>

#include <cmath>

namespace weightcast {
namespace {

TEST(PyJson, FloatReprMatchesPython) {
  // Expected strings are Python 3's repr() of the same values.
  EXPECT_EQ(python_float_repr(3790741504.0), "3790741504.0");
  EXPECT_EQ(python_float_repr(4.500454373872803), "4.500454373872803");
  EXPECT_EQ(python_float_repr(1e16), "1e+16");
  EXPECT_EQ(python_float_repr(1234567890123456.0), "1234567890123456.0");
  EXPECT_EQ(python_float_repr(0.0001), "0.0001");
  EXPECT_EQ(python_float_repr(0.00001), "1e-05");
  EXPECT_EQ(python_float_repr(1.5e-7), "1.5e-07");
  EXPECT_EQ(python_float_repr(16.0), "16.0");
  EXPECT_EQ(python_float_repr(0.0), "0.0");
  EXPECT_EQ(python_float_repr(-0.0), "-0.0");
  EXPECT_EQ(python_float_repr(0.1), "0.1");
  EXPECT_EQ(python_float_repr(1.2345e+100), "1.2345e+100");
  EXPECT_EQ(python_float_repr(INFINITY), "Infinity");
  EXPECT_EQ(python_float_repr(NAN), "NaN");
}

TEST(PyJson, LayoutMatchesJsonDumpIndent4) {
  nlohmann::ordered_json j;
  j["b"] = 1;
  j["a"] = nlohmann::ordered_json::array({1, 2});
  j["empty"] = nlohmann::ordered_json::array();
  j["obj"] = nlohmann::ordered_json::object();
  j["s"] = "x\"\\\n\x01\xc3\xa9\xf0\x9f\x98\x80\x7f";
  j["f"] = 2.5;
  // json.dumps({"b":1,"a":[1,2],"empty":[],"obj":{},"s":"x\"\\\n\x01é😀\x7f","f":2.5}, indent=4)
  EXPECT_EQ(python_json_dumps(j),
            "{\n    \"b\": 1,\n    \"a\": [\n        1,\n        2\n    ],\n    \"empty\": [],\n"
            "    \"obj\": {},\n    \"s\": \"x\\\"\\\\\\n\\u0001\\u00e9\\ud83d\\ude00\\u007f\",\n"
            "    \"f\": 2.5\n}");
}

}  // namespace
}  // namespace weightcast
