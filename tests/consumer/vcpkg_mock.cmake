# Stand-ins for the vcpkg helpers that ports/weft/portfile.cmake calls, so the
# port can run without vcpkg (which needs a network). Each does what vcpkg's
# helper does for a header-only CMake project, and fails loudly where the
# portfile asks for something weft's build does not provide: an unknown
# option, a config path the install does not create, a missing licence.
function(vcpkg_from_github)
  message(FATAL_ERROR "portfile: a checkout overlay must build the local tree, not download a release")
endfunction()

function(vcpkg_cmake_configure)
  cmake_parse_arguments(ARG "" "SOURCE_PATH" "OPTIONS" ${ARGN})
  execute_process(COMMAND ${CMAKE_COMMAND} -S ${ARG_SOURCE_PATH} -B ${WORK_DIR}/port-build
                          -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER=${CXX}
                          -DCMAKE_INSTALL_PREFIX=${CURRENT_PACKAGES_DIR} ${ARG_OPTIONS}
                  RESULT_VARIABLE rc ERROR_VARIABLE err)
  if(NOT rc EQUAL 0 OR err MATCHES "Manually-specified variables were not used")
    message(FATAL_ERROR "portfile: configure failed or passed unknown options:\n${err}")
  endif()
endfunction()

function(vcpkg_cmake_install)
  run(${CMAKE_COMMAND} --install ${WORK_DIR}/port-build)
endfunction()

function(vcpkg_cmake_config_fixup)
  cmake_parse_arguments(ARG "" "PACKAGE_NAME;CONFIG_PATH" "" ${ARGN})
  if(NOT EXISTS ${CURRENT_PACKAGES_DIR}/${ARG_CONFIG_PATH}/${ARG_PACKAGE_NAME}Config.cmake)
    message(FATAL_ERROR "portfile: CONFIG_PATH ${ARG_CONFIG_PATH} holds no ${ARG_PACKAGE_NAME}Config.cmake")
  endif()
endfunction()

function(vcpkg_fixup_pkgconfig)
  file(GLOB pc ${CURRENT_PACKAGES_DIR}/share/pkgconfig/*.pc ${CURRENT_PACKAGES_DIR}/lib/pkgconfig/*.pc)
  if(NOT pc)
    message(FATAL_ERROR "portfile: vcpkg_fixup_pkgconfig found no .pc file")
  endif()
endfunction()

function(vcpkg_install_copyright)
  cmake_parse_arguments(ARG "" "" "FILE_LIST" ${ARGN})
  file(INSTALL ${ARG_FILE_LIST} DESTINATION ${CURRENT_PACKAGES_DIR}/share/${PORT})
  list(GET ARG_FILE_LIST 0 licence)
  get_filename_component(licence_name ${licence} NAME)
  file(RENAME ${CURRENT_PACKAGES_DIR}/share/${PORT}/${licence_name} ${CURRENT_PACKAGES_DIR}/share/${PORT}/copyright)
endfunction()
