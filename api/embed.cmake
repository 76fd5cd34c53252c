# cmake -DIN=api/openapi.json -DOUT=openapi_doc.c -P api/embed.cmake
# Writes the document as a C array (tether_openapi_json, NUL-terminated, and
# its length without the NUL), so tetherd embeds it at build time.
file(READ "${IN}" hex HEX)
string(LENGTH "${hex}" n)
math(EXPR len "${n} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
string(REGEX REPLACE "((0x..,){16})" "\\1\n" bytes "${bytes}")
file(WRITE "${OUT}.tmp"
  "/* Generated from api/openapi.json by api/embed.cmake; do not edit. */\n"
  "extern const char tether_openapi_json[];\n"
  "extern const unsigned long tether_openapi_json_len;\n"
  "const char tether_openapi_json[] = {\n${bytes}0x00\n};\n"
  "const unsigned long tether_openapi_json_len = ${len};\n")
file(RENAME "${OUT}.tmp" "${OUT}")
