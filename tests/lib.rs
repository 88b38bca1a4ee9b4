//! End-to-end tests of the data-and-ai layer against the local AWS emulator.
