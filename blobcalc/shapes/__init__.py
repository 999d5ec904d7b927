"""Shape propagation rules, one per Caffe layer type, kept in a registry."""
