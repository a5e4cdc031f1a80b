# `make test`: install what the tests need (idempotent, quick when it is all
# there), then run every test. README's second command; `.ci/run` calls it.
.PHONY: test
test:
	bash .ci/setup
	cargo test --release
	bash fuzz/run.sh 15
