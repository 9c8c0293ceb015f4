# The layering check: each top-level folder is one library and may include
# only its own headers and those of folders below it. The levels (the order in
# CMakeLists.txt and the README's Layout):
#   0 model, proto   1 config, pprof   2 net, storage   3 discovery, query, ingest
#   4 collector, forward   5 web   6 app
# Run as: cmake -DROOT=<source dir> -P tests/layering_check.cmake
set(levels model:0 proto:0 config:1 pprof:1 net:2 storage:2 discovery:3 query:3 ingest:3
           collector:4 forward:4 web:5 app:6)
foreach(entry ${levels})
  string(REPLACE ":" ";" pair "${entry}")
  list(GET pair 0 name)
  list(GET pair 1 level)
  set(level_${name} ${level})
  list(APPEND folders ${name})
endforeach()

set(violations "")
set(checked 0)
foreach(folder ${folders})
  if(folder STREQUAL "proto")
    continue()  # .proto files only; the generated headers include nothing of ours
  endif()
  file(GLOB_RECURSE sources ${ROOT}/${folder}/*.h ${ROOT}/${folder}/*.cc)
  foreach(src ${sources})
    math(EXPR checked "${checked} + 1")
    file(STRINGS ${src} lines REGEX "^[ \t]*#[ \t]*include[ \t]*\"")
    foreach(line ${lines})
      string(REGEX REPLACE "^[ \t]*#[ \t]*include[ \t]*\"([^\"]+)\".*" "\\1" inc "${line}")
      string(REGEX MATCH "^[^/]+" top "${inc}")
      if(top STREQUAL folder OR NOT inc MATCHES "/")
        continue()
      endif()
      file(RELATIVE_PATH rel ${ROOT} ${src})
      if(NOT DEFINED level_${top})
        list(APPEND violations "${rel} includes ${inc}, which is not a library folder")
      elseif(NOT level_${top} LESS level_${folder})
        list(APPEND violations
             "${rel} (${folder}, level ${level_${folder}}) includes ${inc} (${top}, level ${level_${top}})")
      endif()
    endforeach()
  endforeach()
endforeach()

if(checked LESS 50)
  message(FATAL_ERROR "only ${checked} files found under ${ROOT}: is ROOT the source directory?")
endif()
if(violations)
  list(LENGTH violations n)
  string(REPLACE ";" "\n  " text "${violations}")
  message(FATAL_ERROR "${n} include(s) against the layering:\n  ${text}")
endif()
message(STATUS "layering: ${checked} files, every include goes down")
