# vcpkg overlay port for sysout (header-only):
#   vcpkg install sysout --overlay-ports=<sysout>/ports
#   vcpkg install "sysout[eigen,xtensor,dlpack,highway]" --overlay-ports=<sysout>/ports
# The source is the checkout this port sits in (two folders up); set
# SYSOUT_SOURCE_DIR in the environment to build another one. Once sysout has a
# tagged release, replace this with vcpkg_from_github(OUT_SOURCE_PATH SOURCE_PATH
# REPO <owner>/sysout REF "v${VERSION}" SHA512 <sha of the tarball> HEAD_REF main).
# tests/packaging/vcpkg_port_steps.cmake replays the steps below (same options)
# where the vcpkg tool is not available; keep the two in step.
set(VCPKG_BUILD_TYPE release)  # header-only: nothing differs in a debug build

if(DEFINED ENV{SYSOUT_SOURCE_DIR})
  set(SOURCE_PATH "$ENV{SYSOUT_SOURCE_DIR}")
else()
  get_filename_component(SOURCE_PATH "${CMAKE_CURRENT_LIST_DIR}/../.." ABSOLUTE)
endif()

vcpkg_check_features(OUT_FEATURE_OPTIONS FEATURE_OPTIONS
  FEATURES
    eigen   SYSOUT_WITH_EIGEN
    xtensor SYSOUT_WITH_XTENSOR
    dlpack  SYSOUT_WITH_DLPACK
    highway SYSOUT_WITH_HIGHWAY
)

vcpkg_cmake_configure(
  SOURCE_PATH "${SOURCE_PATH}"
  OPTIONS
    -DSYSOUT_BUILD_TESTS=OFF
    -DSYSOUT_BUILD_EXAMPLES=OFF
    -DSYSOUT_BUILD_BENCH=OFF
    -DSYSOUT_WITH_CUDA=OFF
    -DSYSOUT_INSTALL=ON
    ${FEATURE_OPTIONS}
)
vcpkg_cmake_install()
vcpkg_cmake_config_fixup(CONFIG_PATH share/cmake/sysout)

file(REMOVE_RECURSE "${CURRENT_PACKAGES_DIR}/debug" "${CURRENT_PACKAGES_DIR}/lib")
if(EXISTS "${SOURCE_PATH}/LICENSE")
  vcpkg_install_copyright(FILE_LIST "${SOURCE_PATH}/LICENSE")
else()
  file(WRITE "${CURRENT_PACKAGES_DIR}/share/${PORT}/copyright"
       "sysout ${VERSION}: the source tree has no LICENSE file yet.\n")
endif()
