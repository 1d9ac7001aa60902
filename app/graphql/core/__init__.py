"""What every GraphQL context uses: the request context, the mutation pipeline, errors,
limits and cost, pagination, permissions, observability and the shared DataLoaders."""
