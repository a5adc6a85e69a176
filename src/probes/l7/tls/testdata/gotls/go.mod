module gotls

go 1.22
