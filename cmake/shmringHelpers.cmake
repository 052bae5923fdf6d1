# SPDX-License-Identifier: MIT
#
# Build helpers for shmring's own targets (library, tests, bench, tools,
# examples). Included by the top-level CMakeLists.txt before any subtree, so
# every subdirectory may call these functions. Not installed.
#
#   shmring_target_warnings(<target>...)
#       -Wall -Wextra (and -Werror unless SHMRING_WERROR is OFF) on our code
#       only: third-party targets built in the same tree keep their flags.
#
#   shmring_add_test(<name> SOURCES <file>...
#                    [LIBRARIES <lib>...]   default: shmring::shmring
#                    [LABELS <label>...]
#                    [TIMEOUT <seconds>]    default: 300
#                    [ENVIRONMENT <VAR=value>...]
#                    [NO_CRITERION])
#       An executable linked with the library and Criterion, warnings on,
#       registered with CTest under <name>.
#
# CTest labels that ./dev.sh relies on:
#   threaded   the test runs several threads inside one process. Only these
#              run in the ThreadSanitizer stage (TSan sees races within one
#              process; it cannot follow a ring shared between processes).
#              Such a test must be a plain program (NO_CRITERION): Criterion
#              2.4 cannot start under TSan, its BoxFort arena maps at fixed
#              addresses that TSan reserves ("Could not initialize inheritable
#              arena", Snaipe/Criterion#274). Exit 0 on success; on failure
#              print both values and exit non-zero.
#
# Environment seen by every test (passed through by ctest from ./dev.sh):
#   SHMRING_LONG=1   run the long stress variant (./dev.sh test --long).
# Named rings created by tests are called "shmring-test-<something>", so that
# ./dev.sh can report the ones a test leaves behind in /dev/shm.

function(shmring_target_warnings)
	foreach(_t IN LISTS ARGN)
		target_compile_options(${_t} PRIVATE -Wall -Wextra)
		if(SHMRING_WERROR)
			target_compile_options(${_t} PRIVATE -Werror)
		endif()
	endforeach()
endfunction()

# Criterion, found once, through its pkg-config file (Debian: libcriterion-dev).
function(shmring_find_criterion)
	if(TARGET PkgConfig::criterion)
		return()
	endif()
	find_package(PkgConfig REQUIRED)
	pkg_check_modules(criterion REQUIRED IMPORTED_TARGET GLOBAL criterion)
endfunction()

function(shmring_add_test name)
	cmake_parse_arguments(PARSE_ARGV 1 T "NO_CRITERION" "TIMEOUT"
			      "SOURCES;LIBRARIES;LABELS;ENVIRONMENT")
	if(NOT T_SOURCES)
		message(FATAL_ERROR "shmring_add_test(${name}): no SOURCES")
	endif()
	if(NOT T_LIBRARIES)
		set(T_LIBRARIES shmring::shmring)
	endif()
	if(NOT T_TIMEOUT)
		set(T_TIMEOUT 300)
	endif()

	add_executable(${name} ${T_SOURCES})
	shmring_target_warnings(${name})
	target_link_libraries(${name} PRIVATE ${T_LIBRARIES} Threads::Threads)
	if(NOT T_NO_CRITERION)
		shmring_find_criterion()
		target_link_libraries(${name} PRIVATE PkgConfig::criterion)
	endif()

	if("threaded" IN_LIST T_LABELS AND NOT T_NO_CRITERION AND SHMRING_SANITIZE MATCHES "thread")
		message(WARNING "shmring_add_test(${name}): a Criterion test labelled 'threaded' "
			"cannot run under ThreadSanitizer (Criterion#274); make it NO_CRITERION")
	endif()

	add_test(NAME ${name} COMMAND ${name})
	set_tests_properties(${name} PROPERTIES TIMEOUT ${T_TIMEOUT})
	if(T_LABELS)
		set_tests_properties(${name} PROPERTIES LABELS "${T_LABELS}")
	endif()
	if(T_ENVIRONMENT)
		set_tests_properties(${name} PROPERTIES ENVIRONMENT "${T_ENVIRONMENT}")
	endif()
endfunction()
