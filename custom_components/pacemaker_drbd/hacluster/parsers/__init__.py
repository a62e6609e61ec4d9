"""Pure parsers: bytes or text from the cluster tools in, frozen models out."""
