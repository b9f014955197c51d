"""The object-detection benchmark's own code: synthetic COCO-format data, model loaders, COCO evaluation.

The LoadGen harness is generic and lives in ``reefnb.kernel.bench``; this package only knows detection.
"""
