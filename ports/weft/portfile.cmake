# vcpkg port for weft (header-only).
#
# Overlay from a checkout (tests the tree you have):
#   vcpkg install weft --overlay-ports=<weft>/ports
# Copied into a registry or vcpkg's own ports/ folder, it downloads the
# release tag with vcpkg_from_github instead. Before publishing, set
# WEFT_GITHUB_REPO and WEFT_RELEASE_SHA512: with SHA512 0, vcpkg fails and
# prints the archive's real hash to paste here (vcpkg's documented procedure).
set(WEFT_GITHUB_REPO "weft-cpp/weft")
set(WEFT_RELEASE_SHA512 0)

set(checkout "${CMAKE_CURRENT_LIST_DIR}/../..")
if(EXISTS "${checkout}/include/weft/weft.hpp" AND EXISTS "${checkout}/CMakeLists.txt")
  get_filename_component(SOURCE_PATH "${checkout}" ABSOLUTE)
else()
  vcpkg_from_github(
    OUT_SOURCE_PATH SOURCE_PATH
    REPO "${WEFT_GITHUB_REPO}"
    REF "v${VERSION}"
    SHA512 "${WEFT_RELEASE_SHA512}"
    HEAD_REF main
  )
endif()

set(VCPKG_BUILD_TYPE release)  # header-only: one configuration is enough

vcpkg_cmake_configure(
  SOURCE_PATH "${SOURCE_PATH}"
  OPTIONS
    -DWEFT_INSTALL=ON
    -DWEFT_BUILD_TESTS=OFF
    -DWEFT_BUILD_BENCHMARKS=OFF
    -DWEFT_BUILD_EXAMPLES=OFF
)
vcpkg_cmake_install()
vcpkg_cmake_config_fixup(PACKAGE_NAME weft CONFIG_PATH share/cmake/weft)
vcpkg_fixup_pkgconfig()

# Header-only: nothing configuration-specific to keep; lib/ holds only pkgconfig/weft.pc.
file(REMOVE_RECURSE "${CURRENT_PACKAGES_DIR}/debug")
vcpkg_install_copyright(FILE_LIST "${SOURCE_PATH}/LICENSE")
file(INSTALL "${CMAKE_CURRENT_LIST_DIR}/usage" DESTINATION "${CURRENT_PACKAGES_DIR}/share/${PORT}")
