# GW_CHECK_CFLAG(FLAG, [ACTION-IF-OK], [ACTION-IF-NOT])
# Tries to compile an empty program with FLAG (and -Werror, so that a flag
# the compiler merely warns about counts as unsupported).
AC_DEFUN([GW_CHECK_CFLAG], [
  AS_VAR_PUSHDEF([gw_cache], [gw_cv_cflag_$1])
  AC_CACHE_CHECK([whether $CC accepts $1], [gw_cache], [
    gw_save_CFLAGS=$CFLAGS
    CFLAGS="$CFLAGS -Werror $1"
    AC_COMPILE_IFELSE([AC_LANG_PROGRAM([], [])],
      [AS_VAR_SET([gw_cache], [yes])], [AS_VAR_SET([gw_cache], [no])])
    CFLAGS=$gw_save_CFLAGS])
  AS_VAR_IF([gw_cache], [yes], [$2], [$3])
  AS_VAR_POPDEF([gw_cache])
])
