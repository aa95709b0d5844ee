# The two commands of the README: `make demo` and `make test`. Each installs what it needs first.
SWIFT ?= swift
THREADS ?= 2

.PHONY: deps build release test docs demo demo-image demo-method bench clean

deps:
	@scripts/install-deps.sh

build: deps
	$(SWIFT) build

release: deps
	$(SWIFT) build -c release

# The corpus generator's reproducibility, the Swift suites (debug build; the CLI tests run the built binary), the API
# documentation (doc comments and DocC), then the end-to-end checks against the release build (train, embed, probe).
test: deps
	Corpora/check_reproducible.sh
	$(SWIFT) build --build-tests
	$(SWIFT) test
	scripts/check-docs.sh
	$(SWIFT) build -c release
	Tests/EndToEnd/run.sh

# Trains the small CPC on the bundled corpus for a few minutes and prints the phone/speaker probe table
# (runs/demo/probes.json). DEMO_STEPS sets the training length.
DEMO_STEPS ?= 800
demo: release
	scripts/demo.sh $(DEMO_STEPS) $(THREADS)

# Trains patch-grid CPC on Fashion-MNIST (~20 min) and prints the image probe table (runs/demo-image/probes.json).
DEMO_IMAGE_STEPS ?=
demo-image: release
	scripts/demo_image.sh "$(DEMO_IMAGE_STEPS)" $(THREADS)

# Trains an image-pair method (configs/$(METHOD)-fashion.yaml) and prints its kNN and linear probe table beside raw
# pixels and a random initialisation (runs/demo-$(METHOD)/probes.json). METHOD_STEPS overrides the config's steps.
METHOD ?= simclr
METHOD_STEPS ?=
demo-method: release
	scripts/demo_method.sh $(METHOD) "$(METHOD_STEPS)" $(THREADS)

# DocC archives of the API targets under .build/plugins/Swift-DocC/outputs/ (every public symbol documented).
docs: deps
	scripts/check-docs.sh

bench: release
	.build/release/cpc bench kernels --threads $(THREADS) --json

clean:
	rm -rf .build
