# Packaging tests, run by ctest as `cmake -DMODE=... -P package_test.cmake`:
#   MODE=install       configure this source tree (tests off), cmake --install to a
#                      temp prefix, then build and run tests/packaging/consumer
#                      with find_package(sysout CONFIG REQUIRED [COMPONENTS ...]).
#   MODE=subdirectory  build the consumer with add_subdirectory(<source tree>).
#   MODE=vcpkg         replay ports/sysout/portfile.cmake by hand (the vcpkg tool
#                      is not available): same configure options, install,
#                      vcpkg_cmake_config_fixup(CONFIG_PATH share/cmake/sysout),
#                      debug tree removed, copyright; then build the consumer
#                      against that package folder.
# Inputs: SRC (source tree), WORK (scratch folder, wiped), GENERATOR, CXX,
# VERSION (expected package version), PARTS (optional parts to require, a,b,c).
cmake_minimum_required(VERSION 3.20)
foreach(v MODE SRC WORK GENERATOR CXX VERSION)
  if(NOT DEFINED ${v})
    message(FATAL_ERROR "package_test.cmake: -D${v}=... is required")
  endif()
endforeach()

string(REPLACE "," ";" PARTS "${PARTS}")  # passed comma-separated
string(REPLACE ";" "," PARTS_COMMA "${PARTS}")
file(REMOVE_RECURSE "${WORK}")
file(MAKE_DIRECTORY "${WORK}")

function(run)
  string(REPLACE ";" " " _cmd "${ARGN}")
  message(STATUS "$ ${_cmd}")
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "command failed (${rc}): ${_cmd}\n${out}")
  endif()
  set(last_output "${out}" PARENT_SCOPE)
endfunction()

# Consumer build + run against whatever prefix or mode the caller set up.
function(build_consumer)
  set(bld "${WORK}/consumer-build")
  run(${CMAKE_COMMAND} -S "${SRC}/tests/packaging/consumer" -B "${bld}" -G "${GENERATOR}"
      -DCMAKE_CXX_COMPILER=${CXX} -DCMAKE_BUILD_TYPE=Release "-DSYSOUT_EXPECT_PARTS=${PARTS_COMMA}" ${ARGN})
  message(STATUS "${last_output}")
  run(${CMAKE_COMMAND} --build "${bld}" -j 2)
  run("${bld}/consumer")
  message(STATUS "consumer: ${last_output}")
  foreach(part ${PARTS})
    run("${bld}/consumer_${part}")
    message(STATUS "consumer_${part}: ok")
  endforeach()
endfunction()

set(common_off -DSYSOUT_BUILD_TESTS=OFF -DSYSOUT_BUILD_EXAMPLES=OFF -DSYSOUT_BUILD_BENCH=OFF -DSYSOUT_WITH_CUDA=OFF)

if(MODE STREQUAL "install")
  set(prefix "${WORK}/prefix")
  run(${CMAKE_COMMAND} -S "${SRC}" -B "${WORK}/build" -G "${GENERATOR}" -DCMAKE_CXX_COMPILER=${CXX}
      -DCMAKE_BUILD_TYPE=Release "-DCMAKE_INSTALL_PREFIX=${prefix}" ${common_off})
  run(${CMAKE_COMMAND} --install "${WORK}/build")
  foreach(f include/sysout/sysout.hpp include/sysout/core/tensor_view.hpp include/sysout/core/eigen.hpp
            share/cmake/sysout/sysoutConfig.cmake share/cmake/sysout/sysoutConfigVersion.cmake
            share/cmake/sysout/sysoutTargets.cmake)
    if(NOT EXISTS "${prefix}/${f}")
      message(FATAL_ERROR "install: ${f} missing from ${prefix}")
    endif()
  endforeach()
  file(READ "${prefix}/share/cmake/sysout/sysoutConfigVersion.cmake" ver)
  # ARCH_INDEPENDENT makes CMake's template return before its pointer-size check.
  if(NOT ver MATCHES "no architecture check, don't perform the check\n *if\\(\"TRUE\"\\)\n *return\\(\\)")
    message(FATAL_ERROR "install: sysoutConfigVersion.cmake is not ARCH_INDEPENDENT (it would refuse a "
                        "32-bit consumer of this header-only package)")
  endif()
  # A version the package does not satisfy must be refused.
  file(MAKE_DIRECTORY "${WORK}/too-new")
  file(WRITE "${WORK}/too-new/CMakeLists.txt"
       "cmake_minimum_required(VERSION 3.20)\nproject(t NONE)\nfind_package(sysout 99.0 CONFIG REQUIRED)\n")
  execute_process(COMMAND ${CMAKE_COMMAND} -S "${WORK}/too-new" -B "${WORK}/too-new/b" "-DCMAKE_PREFIX_PATH=${prefix}"
                  RESULT_VARIABLE rc OUTPUT_QUIET ERROR_QUIET)
  if(rc EQUAL 0)
    message(FATAL_ERROR "install: find_package(sysout 99.0) succeeded against ${VERSION}")
  endif()
  build_consumer(-DSYSOUT_CONSUMER_MODE=find_package "-DCMAKE_PREFIX_PATH=${prefix}" -DSYSOUT_EXPECT_VERSION=${VERSION})

elseif(MODE STREQUAL "subdirectory")
  build_consumer(-DSYSOUT_CONSUMER_MODE=subdirectory "-DSYSOUT_SOURCE_DIR=${SRC}" ${common_off})

elseif(MODE STREQUAL "vcpkg")
  set(port "${SRC}/ports/sysout")
  # vcpkg.json must name this package at this version.
  file(READ "${port}/vcpkg.json" manifest)
  string(JSON name GET "${manifest}" name)
  string(JSON pver GET "${manifest}" version)
  if(NOT name STREQUAL "sysout" OR NOT pver STREQUAL VERSION)
    message(FATAL_ERROR "vcpkg.json: name '${name}' version '${pver}', expected 'sysout' '${VERSION}'")
  endif()
  # The OPTIONS of vcpkg_cmake_configure, read from the portfile itself.
  file(READ "${port}/portfile.cmake" portfile)
  string(REGEX MATCH "vcpkg_cmake_configure\\(([^)]*)\\)" _ "${portfile}")
  string(REGEX MATCHALL "-D[A-Za-z_]+=[A-Za-z0-9_]+" port_options "${CMAKE_MATCH_1}")
  if(NOT port_options)
    message(FATAL_ERROR "could not read vcpkg_cmake_configure OPTIONS from ${port}/portfile.cmake")
  endif()
  # vcpkg_check_features: requested features ON, the others OFF.
  string(REGEX MATCH "FEATURES([^)]*)\\)" _ "${portfile}")
  string(REGEX MATCHALL "[a-z]+ +SYSOUT_WITH_[A-Z]+" feature_pairs "${CMAKE_MATCH_1}")
  set(feature_options)
  foreach(fp ${feature_pairs})
    string(REGEX REPLACE " +" ";" fp "${fp}")
    list(GET fp 0 feat)
    list(GET fp 1 var)
    if(feat IN_LIST PARTS)
      list(APPEND feature_options -D${var}=ON)
    else()
      list(APPEND feature_options -D${var}=OFF)
    endif()
  endforeach()
  message(STATUS "portfile options: ${port_options} ${feature_options}")

  set(pkg "${WORK}/packages/sysout_x64-linux")
  # vcpkg_cmake_configure + vcpkg_cmake_install (VCPKG_BUILD_TYPE release).
  run(${CMAKE_COMMAND} -S "${SRC}" -B "${WORK}/x64-linux-rel" -G "${GENERATOR}" -DCMAKE_CXX_COMPILER=${CXX}
      -DCMAKE_BUILD_TYPE=Release "-DCMAKE_INSTALL_PREFIX=${pkg}" ${port_options} ${feature_options})
  run(${CMAKE_COMMAND} --install "${WORK}/x64-linux-rel")
  # vcpkg_cmake_config_fixup(CONFIG_PATH share/cmake/sysout): move the package
  # to share/sysout and make its files find the prefix from one level less deep.
  if(NOT IS_DIRECTORY "${pkg}/share/cmake/sysout")
    message(FATAL_ERROR "vcpkg: share/cmake/sysout (the portfile's CONFIG_PATH) was not installed")
  endif()
  file(GLOB cfg RELATIVE "${pkg}/share/cmake/sysout" "${pkg}/share/cmake/sysout/*.cmake")
  foreach(f ${cfg})
    file(READ "${pkg}/share/cmake/sysout/${f}" text)
    string(REPLACE "get_filename_component(_IMPORT_PREFIX \"\${_IMPORT_PREFIX}\" PATH)\n"
                   "" text "${text}")
    string(REPLACE "get_filename_component(_IMPORT_PREFIX \"\${CMAKE_CURRENT_LIST_FILE}\" PATH)\n"
                   "get_filename_component(_IMPORT_PREFIX \"\${CMAKE_CURRENT_LIST_FILE}\" PATH)\nget_filename_component(_IMPORT_PREFIX \"\${_IMPORT_PREFIX}\" PATH)\nget_filename_component(_IMPORT_PREFIX \"\${_IMPORT_PREFIX}\" PATH)\n"
                   text "${text}")
    string(REPLACE "\${CMAKE_CURRENT_LIST_DIR}/../../../" "\${CMAKE_CURRENT_LIST_DIR}/../../" text "${text}")
    file(WRITE "${pkg}/share/sysout/${f}" "${text}")
  endforeach()
  file(REMOVE_RECURSE "${pkg}/share/cmake" "${pkg}/debug" "${pkg}/lib")
  # vcpkg_install_copyright / the portfile's fallback.
  if(EXISTS "${SRC}/LICENSE")
    file(COPY_FILE "${SRC}/LICENSE" "${pkg}/share/sysout/copyright")
  else()
    file(WRITE "${pkg}/share/sysout/copyright" "sysout ${VERSION}: the source tree has no LICENSE file yet.\n")
  endif()
  file(COPY "${port}/usage" DESTINATION "${pkg}/share/sysout")
  # vcpkg's post-build checks for a header-only port: headers present, no binaries.
  if(NOT EXISTS "${pkg}/include/sysout/sysout.hpp")
    message(FATAL_ERROR "vcpkg: include/sysout/sysout.hpp missing from the package")
  endif()
  file(GLOB_RECURSE bins "${pkg}/*.a" "${pkg}/*.so" "${pkg}/bin/*")
  if(bins)
    message(FATAL_ERROR "vcpkg: a header-only port installed binaries: ${bins}")
  endif()
  # The package is moved, as vcpkg does from packages/ to installed/: nothing may
  # point back at the build folder or the packages folder.
  set(installed "${WORK}/installed/x64-linux")
  file(MAKE_DIRECTORY "${WORK}/installed")
  file(RENAME "${pkg}" "${installed}")
  file(GLOB_RECURSE cmake_files "${installed}/share/sysout/*.cmake")
  foreach(f ${cmake_files})
    file(READ "${f}" text)
    if(text MATCHES "packages/sysout_x64-linux" OR text MATCHES "x64-linux-rel")
      message(FATAL_ERROR "vcpkg: ${f} refers to the build or packages folder")
    endif()
  endforeach()
  build_consumer(-DSYSOUT_CONSUMER_MODE=find_package "-DCMAKE_PREFIX_PATH=${installed}" -DSYSOUT_EXPECT_VERSION=${VERSION})
else()
  message(FATAL_ERROR "package_test.cmake: unknown MODE '${MODE}'")
endif()
message(STATUS "package_test ${MODE}: passed")
