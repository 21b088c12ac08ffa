# jenky_embed(OUT_VAR SYMBOL BASE_DIR FILES...)
# Generates ${CMAKE_BINARY_DIR}/generated/SYMBOL.cc defining
#   const jenky::EmbeddedFile SYMBOL[]; and SYMBOL##Count
# with each file's path relative to BASE_DIR and its bytes. The generated file is
# rebuilt whenever one of FILES changes, so no copy is ever kept by hand.
function(jenky_embed out_var symbol base_dir)
  set(out ${CMAKE_BINARY_DIR}/generated/${symbol}.cc)
  add_custom_command(
    OUTPUT ${out}
    COMMAND ${CMAKE_COMMAND} -DSYMBOL=${symbol} -DBASE_DIR=${base_dir} -DOUT=${out}
            "-DFILES=${ARGN}" -P ${CMAKE_SOURCE_DIR}/cmake/EmbedGen.cmake
    DEPENDS ${ARGN} ${CMAKE_SOURCE_DIR}/cmake/EmbedGen.cmake
    COMMENT "Embedding ${symbol}"
    VERBATIM)
  set(${out_var} ${out} PARENT_SCOPE)
endfunction()

# jenky_embed_dir(OUT_VAR SYMBOL DIR DEPENDS...)
# Like jenky_embed, for every file under DIR at build time; regenerated when
# one of DEPENDS (e.g. the stamp of the step that fills DIR) changes.
function(jenky_embed_dir out_var symbol dir)
  set(out ${CMAKE_BINARY_DIR}/generated/${symbol}.cc)
  add_custom_command(
    OUTPUT ${out}
    COMMAND ${CMAKE_COMMAND} -DSYMBOL=${symbol} -DDIR=${dir} -DOUT=${out}
            -P ${CMAKE_SOURCE_DIR}/cmake/EmbedGen.cmake
    DEPENDS ${ARGN} ${CMAKE_SOURCE_DIR}/cmake/EmbedGen.cmake
    COMMENT "Embedding ${symbol} from ${dir}"
    VERBATIM)
  set(${out_var} ${out} PARENT_SCOPE)
endfunction()
