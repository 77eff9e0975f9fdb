module pingpong/v1_flask_equivalent

go 1.26.0

require github.com/gorilla/mux v1.8.1
