# Install rules: headers, the exported weft::weft target, a relocatable
# package config with version file, and pkg-config metadata.
include(CMakePackageConfigHelpers)

set(WEFT_CMAKE_DIR ${CMAKE_INSTALL_DATADIR}/cmake/weft)

install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/weft
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(TARGETS weft EXPORT weft-targets)
install(EXPORT weft-targets NAMESPACE weft:: FILE weft-targets.cmake
        DESTINATION ${WEFT_CMAKE_DIR})
# Build-tree export, so a consumer may point weft_DIR at the build directory.
export(EXPORT weft-targets NAMESPACE weft::
       FILE ${PROJECT_BINARY_DIR}/weft-targets.cmake)

configure_package_config_file(
  ${PROJECT_SOURCE_DIR}/cmake/weft-config.cmake.in
  ${PROJECT_BINARY_DIR}/weftConfig.cmake
  INSTALL_DESTINATION ${WEFT_CMAKE_DIR})
write_basic_package_version_file(
  ${PROJECT_BINARY_DIR}/weftConfigVersion.cmake
  COMPATIBILITY SameMajorVersion ARCH_INDEPENDENT)
install(FILES ${PROJECT_BINARY_DIR}/weftConfig.cmake
              ${PROJECT_BINARY_DIR}/weftConfigVersion.cmake
        DESTINATION ${WEFT_CMAKE_DIR})

# pkg-config: absolute include dir, as pkg-config has no relocation.
set(WEFT_PC_LIBS "-pthread")
if(CMAKE_SYSTEM_NAME STREQUAL "Linux")
  string(APPEND WEFT_PC_LIBS " -lrt")
endif()
# Under <libdir>/pkgconfig (not share/): the .pc has a Libs: line, and that
# is where pkg-config and vcpkg's post-build check look for such a file.
configure_file(${PROJECT_SOURCE_DIR}/cmake/weft.pc.in ${PROJECT_BINARY_DIR}/weft.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/weft.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
