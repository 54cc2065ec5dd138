"""KFP components: each declares a typed interface on the one platform image and calls one
library function of its room. The logic lives (and is unit-tested) in the rooms."""
