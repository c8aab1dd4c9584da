# As a subproject, tether must add its library and nothing else of its own.
foreach(target tether_tests tether_test_worker tether_cli spawn_bench channel_bench worker_goodbye pass_file gtest)
  if(TARGET ${target})
    message(FATAL_ERROR "tether as a subproject added its target '${target}'; only the library was expected")
  endif()
endforeach()
if(NOT TARGET tether::tether)
  message(FATAL_ERROR "tether as a subproject did not add tether::tether")
endif()
