# vcpkg overlay port for weft, built from this source tree:
#   vcpkg install weft --overlay-ports=<weft>/ports
# Header-only: installs the headers, the weft::weft CMake package and weft.pc.
set(SOURCE_PATH "${CMAKE_CURRENT_LIST_DIR}/../..")
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

# Header-only: nothing architecture- or configuration-specific to keep.
file(REMOVE_RECURSE "${CURRENT_PACKAGES_DIR}/debug" "${CURRENT_PACKAGES_DIR}/lib")
vcpkg_install_copyright(FILE_LIST "${SOURCE_PATH}/LICENSE")
file(INSTALL "${CMAKE_CURRENT_LIST_DIR}/usage" DESTINATION "${CURRENT_PACKAGES_DIR}/share/${PORT}")
