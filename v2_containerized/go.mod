module pingpong/v2_containerized

go 1.26.0

require (
	github.com/caarlos0/env/v10 v10.0.0
	github.com/gorilla/mux v1.8.1
)
