# Builds tests/consumer against weft one way (MODE) and runs it.
#   find_package     : configure + install weft to a prefix, then find_package(weft)
#   readme_install   : the README's install line as written (no WEFT_* options) on a
#                      machine without Catch2 and Google Benchmark, then find_package(weft)
#   add_subdirectory : the consumer vendors weft's source tree
#   fetch_content    : FetchContent_Declare(GIT_REPOSITORY <this checkout> GIT_TAG HEAD)
#   pkg_config       : compile by hand with the README's pkg-config command, as written
#   copy             : copy include/weft into the consumer's tree, compile by hand
#   vcpkg_port       : run ports/weft/portfile.cmake with stand-in vcpkg helpers,
#                      then find_package(weft) from the port's package directory
cmake_minimum_required(VERSION 3.21)
set(consumer_src ${CMAKE_CURRENT_LIST_DIR})
file(REMOVE_RECURSE ${WORK_DIR})
file(MAKE_DIRECTORY ${WORK_DIR})

function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "failed (${rc}): ${ARGN}")
  endif()
endfunction()

function(install_weft prefix)
  run(${CMAKE_COMMAND} -S ${WEFT_SOURCE_DIR} -B ${WORK_DIR}/weft-build
      -DCMAKE_CXX_COMPILER=${CXX} -DCMAKE_INSTALL_PREFIX=${prefix} -DWEFT_INSTALL=ON
      -DWEFT_BUILD_TESTS=OFF -DWEFT_BUILD_BENCHMARKS=OFF -DWEFT_BUILD_EXAMPLES=OFF)
  run(${CMAKE_COMMAND} --install ${WORK_DIR}/weft-build)
endfunction()

set(prefix ${WORK_DIR}/prefix)
if(MODE STREQUAL "find_package")
  install_weft(${prefix})
  run(${CMAKE_COMMAND} -S ${consumer_src} -B ${WORK_DIR}/build -DCMAKE_CXX_COMPILER=${CXX}
      -DWEFT_CONSUMER_MODE=find_package -DCMAKE_PREFIX_PATH=${prefix})
  run(${CMAKE_COMMAND} --build ${WORK_DIR}/build)
  set(exe ${WORK_DIR}/build/consumer)
elseif(MODE STREQUAL "readme_install")
  # cmake -S weft -B b -DCMAKE_INSTALL_PREFIX=/opt/weft && cmake --install b, with the test and
  # benchmark frameworks hidden as on a machine that has neither.
  run(${CMAKE_COMMAND} -S ${WEFT_SOURCE_DIR} -B ${WORK_DIR}/weft-build -DCMAKE_CXX_COMPILER=${CXX}
      -DCMAKE_INSTALL_PREFIX=${prefix} -DCMAKE_DISABLE_FIND_PACKAGE_Catch2=ON
      -DCMAKE_DISABLE_FIND_PACKAGE_benchmark=ON)
  run(${CMAKE_COMMAND} --install ${WORK_DIR}/weft-build)
  run(${CMAKE_COMMAND} -S ${consumer_src} -B ${WORK_DIR}/build -DCMAKE_CXX_COMPILER=${CXX}
      -DWEFT_CONSUMER_MODE=find_package -DCMAKE_PREFIX_PATH=${prefix})
  run(${CMAKE_COMMAND} --build ${WORK_DIR}/build)
  set(exe ${WORK_DIR}/build/consumer)
elseif(MODE STREQUAL "add_subdirectory")
  run(${CMAKE_COMMAND} -S ${consumer_src} -B ${WORK_DIR}/build -DCMAKE_CXX_COMPILER=${CXX}
      -DWEFT_CONSUMER_MODE=add_subdirectory -DWEFT_SOURCE_DIR=${WEFT_SOURCE_DIR})
  run(${CMAKE_COMMAND} --build ${WORK_DIR}/build)
  # add_subdirectory must build nothing of weft's own (tests, benchmarks, examples).
  file(GLOB_RECURSE extra ${WORK_DIR}/build/weft/*_test ${WORK_DIR}/build/weft/weft-bench)
  if(extra)
    message(FATAL_ERROR "add_subdirectory built weft's own targets: ${extra}")
  endif()
  set(exe ${WORK_DIR}/build/consumer)
elseif(MODE STREQUAL "fetch_content")
  run(${CMAKE_COMMAND} -S ${consumer_src} -B ${WORK_DIR}/build -DCMAKE_CXX_COMPILER=${CXX}
      -DWEFT_CONSUMER_MODE=fetch_content -DWEFT_GIT_REPOSITORY=${WEFT_SOURCE_DIR} -DWEFT_GIT_TAG=HEAD)
  run(${CMAKE_COMMAND} --build ${WORK_DIR}/build)
  set(exe ${WORK_DIR}/build/consumer)
elseif(MODE STREQUAL "pkg_config")
  install_weft(${prefix})
  # The README's command as written, run by sh: /opt/weft becomes the prefix,
  # app.cpp the consumer, c++ the compiler under test. (Written as
  # `PKG_CONFIG_PATH=... c++ app.cpp $(pkg-config ...)`, the variable reached
  # the compiler but not the $(pkg-config ...) the shell expands first.)
  file(READ ${WEFT_SOURCE_DIR}/README.md readme)
  string(REGEX MATCH "`([^`]*pkg-config --cflags --libs weft[^`]*)`" command "${readme}")
  if(NOT command)
    message(FATAL_ERROR "README.md: no `... pkg-config --cflags --libs weft ...` command")
  endif()
  set(command "${CMAKE_MATCH_1}")
  string(REPLACE "/opt/weft" "${prefix}" command "${command}")
  string(REPLACE "app.cpp" "${consumer_src}/main.cpp" command "${command}")
  string(REGEX REPLACE "(^| )c\\+\\+ " "\\1${CXX} " command "${command}")
  set(exe ${WORK_DIR}/consumer)
  unset(ENV{PKG_CONFIG_PATH})
  message(STATUS "README: ${command}")
  run(sh -c "${command} -o ${exe}")
elseif(MODE STREQUAL "copy")
  file(COPY ${WEFT_SOURCE_DIR}/include/weft DESTINATION ${WORK_DIR}/vendor)
  set(exe ${WORK_DIR}/consumer)
  run(${CXX} -std=c++20 -pthread -I${WORK_DIR}/vendor ${consumer_src}/main.cpp -o ${exe})
elseif(MODE STREQUAL "vcpkg_port")
  include(${CMAKE_CURRENT_LIST_DIR}/vcpkg_mock.cmake)
  set(CURRENT_PACKAGES_DIR ${prefix})
  set(PORT weft)
  file(READ ${WEFT_SOURCE_DIR}/ports/weft/vcpkg.json manifest)
  string(JSON VERSION GET "${manifest}" version)
  include(${WEFT_SOURCE_DIR}/ports/weft/portfile.cmake)
  # lib/pkgconfig: where vcpkg's post-build check wants a .pc with a Libs: line
  foreach(f include/weft/weft.hpp share/weft/copyright share/weft/usage lib/pkgconfig/weft.pc)
    if(NOT EXISTS ${prefix}/${f})
      message(FATAL_ERROR "the port did not install ${f}")
    endif()
  endforeach()
  run(${CMAKE_COMMAND} -S ${consumer_src} -B ${WORK_DIR}/build -DCMAKE_CXX_COMPILER=${CXX}
      -DWEFT_CONSUMER_MODE=find_package -DCMAKE_PREFIX_PATH=${prefix})
  run(${CMAKE_COMMAND} --build ${WORK_DIR}/build)
  set(exe ${WORK_DIR}/build/consumer)
else()
  message(FATAL_ERROR "unknown MODE ${MODE}")
endif()
run(${exe})
