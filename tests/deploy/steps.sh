# Shared by the deploy tests (sourced): counters and `step`, which runs a check and shows its
# output only when it fails. The sourcing script sets $work (a scratch folder) first.
passed=0
failed=0
# step NAME COMMAND...: runs the command, shows its output only when it fails.
step() {
  local name=$1
  shift
  if "$@" >"$work/out" 2>&1; then
    passed=$((passed + 1))
    echo "ok   $name"
  else
    failed=$((failed + 1))
    echo "FAIL $name"
    sed 's/^/     /' "$work/out"
  fi
}
