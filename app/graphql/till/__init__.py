"""The till's GraphQL: previewEarn, earnPoints, spendPoints, reverseTransaction."""
