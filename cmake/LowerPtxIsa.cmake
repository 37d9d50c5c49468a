# cmake -DIN=nvcc.ptx -DOUT=lowered.ptx -DISA=8.2 -P LowerPtxIsa.cmake
# Copies nvcc's PTX with its `.version` directive lowered to ISA when it declares a newer one (an
# older one is kept: lowering is all this may do). Whether the code really fits that ISA is for
# ptxas to decide next: it refuses every feature newer than the declared version.
foreach(var IN ITEMS IN OUT ISA)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "LowerPtxIsa.cmake needs -D${var}=...")
  endif()
endforeach()
if(NOT ISA MATCHES "^([0-9]+)\\.([0-9])$")
  message(FATAL_ERROR "G4_PTX_ISA must read like 8.2, got '${ISA}'")
endif()
file(READ ${IN} ptx)
if(NOT ptx MATCHES "\n\\.version ([0-9]+)\\.([0-9])\n")
  message(FATAL_ERROR "${IN} has no `.version X.Y` line: is it PTX?")
endif()
set(declared "${CMAKE_MATCH_1}.${CMAKE_MATCH_2}")
if(declared VERSION_GREATER ISA)
  string(REPLACE "\n.version ${declared}\n" "\n.version ${ISA}\n" ptx "${ptx}")
  message(STATUS "PTX ISA ${declared} (nvcc's) lowered to ${ISA}")
else()
  message(STATUS "PTX ISA ${declared} kept (not newer than ${ISA})")
endif()
# written whole to a temporary name first, so an interrupted build leaves no half file behind
file(WRITE ${OUT}.tmp "${ptx}")
file(RENAME ${OUT}.tmp ${OUT})
