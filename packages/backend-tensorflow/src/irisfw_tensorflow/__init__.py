"""TensorFlow backend for irisfw: tf.Variable weights trained in a tf.function."""
