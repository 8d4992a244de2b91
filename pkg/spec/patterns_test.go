package spec

import "testing"

// TestPatternsCompile compiles every lazily compiled pattern of the
// package (lazyRegexp), so that a bad one fails here and not in the
// first run whose spec has the field.
func TestPatternsCompile(t *testing.T) {
	for name, p := range map[string]func() any{
		"bucketName": func() any { return bucketName() }, "bucketRegion": func() any { return bucketRegion() },
		"scpLike": func() any { return scpLike() }, "releaseName": func() any { return releaseName() },
		"valuesKey": func() any { return valuesKey() }, "targetPath": func() any { return targetPath() },
		"chartName": func() any { return chartName() }, "ociTag": func() any { return ociTag() },
		"ociDigest": func() any { return ociDigest() }, "mediaType": func() any { return mediaType() },
		"commitSHA": func() any { return commitSHA() }, "varName": func() any { return varName() },
		"namePrefix": func() any { return namePrefix() }, "nameSuffix": func() any { return nameSuffix() },
		"imageTag": func() any { return imageTag() }, "imageDigest": func() any { return imageDigest() },
	} {
		func() {
			defer func() {
				if r := recover(); r != nil {
					t.Errorf("%s: %v", name, r)
				}
			}()
			if p() == nil {
				t.Errorf("%s: nil", name)
			}
		}()
	}
}
