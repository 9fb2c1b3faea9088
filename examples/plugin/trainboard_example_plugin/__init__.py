"""An example trainboard plugin: the `tiny_cnn` model and the `stripes` dataset."""
